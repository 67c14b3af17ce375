import { randomInt } from 'node:crypto';
import { TEST_ENV } from './env-names.js';

/** mulberry32: a small generator of numbers in [0, 1) that one seed makes repeatable. */
export function seededRandom(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * The seed of a randomized schedule (kill times, say): `PGCDC_TEST_SEED` when set, a fresh one otherwise. It is
 * printed either way, so a failing run can be replayed with the same schedule.
 */
export function scheduleSeed(what: string): number {
  const given = process.env[TEST_ENV.seed];
  const seed = given ? Number.parseInt(given, 10) : randomInt(2 ** 31);
  if (!Number.isSafeInteger(seed)) throw new Error(`${TEST_ENV.seed}=${given} is not an integer`);
  process.stderr.write(`\n${what}: seed ${seed} (replay with ${TEST_ENV.seed}=${seed})\n`);
  return seed;
}
