/** Milliseconds per phase of an epoch, for the commit log line and the benchmark's breakdown. */
export interface PhaseTimer {
  /** Ends the running phase under `name` and starts the next one. */
  (name: string): void;
  readonly phases: Record<string, number>;
}

export function phaseTimer(): PhaseTimer {
  const phases: Record<string, number> = {};
  let lap = performance.now();
  const end = (name: string): void => {
    const now = performance.now();
    phases[name] = (phases[name] ?? 0) + Math.round(now - lap);
    lap = now;
  };
  return Object.assign(end, { phases });
}
