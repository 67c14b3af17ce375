/** Conditional writes that lost a race are tried again from a fresh read; one policy for every registry rule. */
import { RegistryConflictError } from './errors.js';

/** How often a conditional write that lost a race is tried again before giving up. */
const CONFLICT_ATTEMPTS = 25;

/**
 * Run `attempt` until it returns a value: undefined means a concurrent writer got there first, so it reads again.
 * The pause grows and is jittered, so writers that collided do not collide again in step.
 */
export async function retryOnConflict<T>(what: string, attempt: () => Promise<T | undefined>): Promise<T> {
  for (let tries = 1; ; tries++) {
    const result = await attempt();
    if (result !== undefined) return result;
    if (tries >= CONFLICT_ATTEMPTS) throw new RegistryConflictError(what, tries);
    await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(200, 5 * 2 ** tries)));
  }
}
