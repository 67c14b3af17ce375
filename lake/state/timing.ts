/** Milliseconds per phase of an epoch, for the commit log line and the benchmark's breakdown. */
export interface PhaseTimer {
  /** Ends the running phase under `name` and starts the next one. */
  (name: string): void;
  /** Records work that ran beside the phases (on another connection), timed by the caller. */
  beside(name: string, ms: number): void;
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
  const beside = (name: string, ms: number): void => {
    phases[name] = (phases[name] ?? 0) + Math.round(ms);
  };
  return Object.assign(end, { beside, phases });
}
