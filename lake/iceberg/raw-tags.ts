import type { Snapshot, SnapshotRef, TableMetadata } from './metadata.js';

/**
 * `raw@<time>` tags: an immutable Iceberg tag on each flush's snapshot of a state table, named by the snapshot's
 * commit time in UTC with milliseconds (`raw@2026-03-01T10:00:00.123Z`). An engine outside pg-cdc reads one by
 * that name as it reads any tag (PyIceberg's `snapshot_by_name`, Spark's `VERSION AS OF 'raw@…'`); pg-cdc's readers
 * also take `raw@<any time>` for the newest tag at or before it.
 *
 * Retention (`promotion.raw_tags`): every commit that adds a tag also drops the tags beyond the newest `keep` and
 * those older than `maxAgeMs`, so a table's refs stay bounded however long it streams. Each tag also carries the
 * age as Iceberg's `max-ref-age-ms`, for engines that expire refs themselves. A raw tag never holds a snapshot:
 * snapshot expiry drops the raw tags on the snapshots it expires (the newest `compaction.retain_snapshots` stay),
 * so a tag reads for exactly as long as it exists, and storage is bounded by the snapshots kept as before.
 */
export const RAW_TAG_PREFIX = 'raw@';

export interface RawTagRetention {
  /** The newest this many tags stay; 0 tags nothing (and drops the tags there are). */
  readonly keep: number;
  /** Tags older than this go. */
  readonly maxAgeMs: number;
}

/** The tag of a snapshot committed at `timestampMs`. */
export const rawTagName = (timestampMs: number): string => `${RAW_TAG_PREFIX}${new Date(timestampMs).toISOString()}`;

/** The time a ref names as `raw@<ISO 8601 time>` (any spelling a reader may use), in ms; undefined otherwise. */
export function rawTagTime(name: string): number | undefined {
  if (!name.startsWith(RAW_TAG_PREFIX)) return undefined;
  const time = Date.parse(name.slice(RAW_TAG_PREFIX.length));
  return Number.isNaN(time) ? undefined : time;
}

/** A tag pg-cdc wrote: exactly the name rawTagName gives its time (other tags are left to whoever made them). */
export function isRawTag(name: string): boolean {
  const time = rawTagTime(name);
  return time !== undefined && rawTagName(time) === name;
}

/** The raw tags of a table, newest first, with their times. */
export function rawTags(metadata: TableMetadata): { name: string; time: number; snapshotId: bigint }[] {
  return Object.entries(metadata.refs)
    .flatMap(([name, ref]) => {
      const time = ref.type === 'tag' && isRawTag(name) ? rawTagTime(name) : undefined;
      return time === undefined ? [] : [{ name, time, snapshotId: ref['snapshot-id'] }];
    })
    .sort((a, b) => b.time - a.time);
}

/**
 * The newest raw tag at or before `time`: what `raw@<time>` reads when no tag has exactly that name. undefined when
 * every tag kept is younger.
 */
export function rawTagAtOrBefore(
  metadata: TableMetadata,
  time: number,
): { name: string; snapshotId: bigint } | undefined {
  return rawTags(metadata).find((tag) => tag.time <= time);
}

/**
 * `refs` without the raw tags that name a snapshot outside `kept` (snapshot expiry's retained set): a raw tag marks
 * a flush while its snapshot is retained anyway, and never holds one longer. Every other ref stays.
 */
export function rawTagsWithin(
  refs: Readonly<Record<string, SnapshotRef>>,
  kept: ReadonlySet<bigint>,
): Readonly<Record<string, SnapshotRef>> {
  const outside = Object.entries(refs).filter(
    ([name, ref]) => ref.type === 'tag' && isRawTag(name) && !kept.has(ref['snapshot-id']),
  );
  if (outside.length === 0) return refs;
  const within = { ...refs };
  for (const [name] of outside) delete within[name];
  return within;
}

/**
 * `metadata` with `snapshot` tagged `raw@<its time>` and the raw tags the retention drops gone. A name already
 * taken (two commits in one millisecond) keeps its first snapshot: tags never move.
 */
export function withRawTag(
  metadata: TableMetadata,
  snapshot: Snapshot,
  retention: RawTagRetention,
  nowMs: number = Date.now(),
): TableMetadata {
  const refs: Record<string, SnapshotRef> = { ...metadata.refs };
  const name = rawTagName(snapshot['timestamp-ms']);
  if (retention.keep > 0 && !Object.hasOwn(refs, name)) {
    refs[name] = { 'snapshot-id': snapshot['snapshot-id'], type: 'tag', 'max-ref-age-ms': retention.maxAgeMs };
  }
  const tags = rawTags({ ...metadata, refs });
  for (const [index, tag] of tags.entries()) {
    if (index >= retention.keep || nowMs - tag.time > retention.maxAgeMs) delete refs[tag.name];
  }
  return { ...metadata, refs };
}
