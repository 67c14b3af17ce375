import type { PruneOutcome, VersionedDocument } from './versioned.js';

/**
 * Which old versions of a versioned document may go (`compaction.retain_versions`), and their pruning. Every epoch
 * makes a version of pg-cdc's manifest and two of the local catalog: at `flush.interval_sec: 1` that is 86,400
 * files a day per table, so they are pruned at each compaction, behind the floor of lake/versioned.ts.
 */
export interface VersionRetention {
  /** The newest this many versions stay (`compaction.retain_versions`); at least 1. */
  readonly retainLast: number;
  /**
   * Versions younger than this stay (`compaction.orphan_grace`): the same bound as for unreferenced files, for the
   * same reason. A reader or writer in flight may still hold them.
   */
  readonly minAgeMs: number;
  /** At most this many versions go in one run, so that one run stays short; the rest go in the next. */
  readonly maxPerRun?: number;
  /**
   * What else keeps versions: the lowest version in [from, to) that must stay, or `to` when none must. Everything
   * from the answer on stays too (the floor is one cut).
   */
  readonly keepFrom?: (from: number, to: number) => Promise<number>;
  /** The clock (ms since the epoch); tests set it. */
  readonly now?: number;
}

export interface VersionPruning extends PruneOutcome {
  /** The newest version when the run began; undefined for a document never committed. */
  readonly latest: number | undefined;
}

const DEFAULT_MAX_PER_RUN = 20_000;

/**
 * The lowest version in [from, to) with `keep(version)` true, or `to`, for a `keep` that is false then true over the
 * range (at most one switch). Bisection: a few reads however long the range.
 */
export async function firstKept(from: number, to: number, keep: (version: number) => Promise<boolean>) {
  let low = from;
  let high = to;
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    if (await keep(middle)) high = middle;
    else low = middle + 1;
  }
  return low;
}

/** The floor the retention allows, from the current one: never lower, never above the newest `retainLast`. */
export async function retentionFloor<T>(
  doc: VersionedDocument<T>,
  retention: VersionRetention,
): Promise<{ floor: number; latest: number | undefined }> {
  if (!(Number.isSafeInteger(retention.retainLast) && retention.retainLast >= 1)) {
    throw new RangeError(`retainLast must be an integer >= 1, got ${retention.retainLast}`);
  }
  if (!(retention.minAgeMs >= 0)) throw new RangeError(`minAgeMs must be >= 0, got ${retention.minAgeMs}`);
  const latest = await doc.latestVersion();
  const current = await doc.floor();
  if (latest === undefined) return { floor: current, latest };
  let floor = Math.max(
    current,
    Math.min(latest - retention.retainLast + 1, current + (retention.maxPerRun ?? DEFAULT_MAX_PER_RUN)),
  );
  if (floor <= current) return { floor: current, latest };
  // Versions are written in order, so their ages fall with the version: the young ones are a suffix.
  const cutoff = (retention.now ?? Date.now()) - retention.minAgeMs;
  floor = await firstKept(current, floor, async (version) => ((await doc.modifiedAt(version)) ?? 0) > cutoff);
  if (floor > current && retention.keepFrom) floor = await retention.keepFrom(current, floor);
  return { floor: Math.max(current, floor), latest };
}

/** Prunes what `retention` lets go; safe beside writers, readers and other prunes of the same document. */
export async function pruneVersions<T>(
  doc: VersionedDocument<T>,
  retention: VersionRetention,
): Promise<VersionPruning> {
  const { floor, latest } = await retentionFloor(doc, retention);
  return { ...(await doc.prune(floor)), latest };
}
