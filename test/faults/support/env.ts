import { createHash } from 'node:crypto';
import { seededRandom } from '../../support/random.js';

/** Environment variables of the fault suite (scripts/run-faults.ts sets the first two for every case file). */
export const FAULT_ENV = {
  /** The suite's seed; every case derives its own schedule from it and its name. Set it to replay a run. */
  seed: 'PGCDC_FAULT_SEED',
  /** The file each case appends its faults and outcomes to, for the table printed at the end. */
  report: 'PGCDC_FAULT_REPORT',
  /** How long the Temporal outage case keeps the server down, in seconds (60 by default). */
  temporalOutageSec: 'PGCDC_FAULT_TEMPORAL_OUTAGE_SEC',
  /** A directory to keep every case's pg-cdc logs in (`<case>.log`), to see how it recovered. */
  logs: 'PGCDC_FAULT_LOGS',
} as const;

/** The seed `PGCDC_FAULT_SEED` gives, or a new one. */
export function drawSeed(): number {
  const given = process.env[FAULT_ENV.seed];
  if (given === undefined) return Math.floor(Math.random() * 2 ** 31);
  const seed = Number.parseInt(given, 10);
  if (!Number.isSafeInteger(seed)) throw new Error(`${FAULT_ENV.seed}=${given} is not an integer`);
  return seed;
}

/** The suite's seed: given by the runner, or drawn here when a case file runs on its own (and printed then). */
export function suiteSeed(): number {
  if (process.env[FAULT_ENV.seed] !== undefined) return drawSeed();
  const seed = drawSeed();
  process.env[FAULT_ENV.seed] = String(seed);
  process.stderr.write(`\nfault suite seed ${seed} (replay with ${FAULT_ENV.seed}=${seed})\n`);
  return seed;
}

/**
 * The random schedule of one case: the suite's seed mixed with the case's name, so that a case's schedule does not
 * change when cases are added, removed or run alone.
 */
export function caseRandom(caseName: string): () => number {
  const mix = createHash('sha256').update(`${suiteSeed()}:${caseName}`).digest().readUInt32LE(0);
  return seededRandom(mix);
}

/** A duration in [min, max) seconds from `random`, in milliseconds. */
export const between = (random: () => number, minSec: number, maxSec: number): number =>
  Math.round((minSec + random() * (maxSec - minSec)) * 1000);

export function temporalOutageMs(): number {
  const given = process.env[FAULT_ENV.temporalOutageSec];
  const seconds = given === undefined ? 60 : Number(given);
  if (!(seconds >= 0)) throw new Error(`${FAULT_ENV.temporalOutageSec}=${given} is not a number of seconds`);
  return seconds * 1000;
}
