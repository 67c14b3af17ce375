/** Conditional writes that lost a race are tried again from a fresh read; one policy for every registry rule. */
import { RegistryConflictError } from './errors.js';

/**
 * How long a write keeps trying. Bounded by time, not by a count: under load (a busy registry, a slow DynamoDB
 * endpoint) one read-modify-write can take longer than any fixed pause, and a count runs out while the writers are
 * still colliding in step.
 */
const CONFLICT_BUDGET_MS = 30_000;
/** A write gives up only after this many attempts too, so a fast registry does not give up after a handful. */
const CONFLICT_MIN_ATTEMPTS = 25;
/** The longest pause between two attempts. */
const CONFLICT_MAX_PAUSE_MS = 2_000;

/**
 * The pause after a lost race: full jitter over a window that doubles with every loss and is scaled by how long an
 * attempt takes here, so writers that collided spread out over several attempts' worth of time whatever the
 * registry's latency, and each gets a turn.
 */
export function conflictPauseMs(losses: number, attemptMs: number, random: () => number = Math.random): number {
  const window = Math.max(5, attemptMs) * 2 ** Math.min(losses, 8);
  return random() * Math.min(CONFLICT_MAX_PAUSE_MS, window);
}

/**
 * Run `attempt` until it returns a value: undefined means a concurrent writer got there first, so it reads again.
 */
export async function retryOnConflict<T>(what: string, attempt: () => Promise<T | undefined>): Promise<T> {
  const started = Date.now();
  for (let tries = 1; ; tries++) {
    const attemptStarted = Date.now();
    const result = await attempt();
    if (result !== undefined) return result;
    const now = Date.now();
    if (tries >= CONFLICT_MIN_ATTEMPTS && now - started >= CONFLICT_BUDGET_MS) {
      throw new RegistryConflictError(what, tries, now - started);
    }
    await new Promise((resolve) => setTimeout(resolve, conflictPauseMs(tries, now - attemptStarted)));
  }
}
