import { LakeFormatError } from '../errors.js';
import { withSnapshot, type Snapshot, type TableMetadata } from './metadata.js';

/**
 * The branches of a table in the spec's write-audit-publish pattern. Every commit of pg-cdc (epochs, the snapshot
 * base, compaction) goes to the head of the table: `staging` when the table has that branch, else `main`. `main`
 * is what `current-snapshot-id` names, so it is what Spark, Trino, PyIceberg and DuckDB read when they read the
 * table plainly; with a `staging` branch it moves only by a promotion (a fast-forward to a staging snapshot).
 * A table without `staging` (promotion.mode auto before any manual promotion) has one branch, and `main` is it.
 */
export const MAIN_BRANCH = 'main';
export const STAGING_BRANCH = 'staging';

const byId = (metadata: TableMetadata, id: bigint): Snapshot | undefined =>
  metadata.snapshots.find((s) => s['snapshot-id'] === id);

/** True when the table's writes go to a `staging` branch apart from `main`. */
export function hasStaging(metadata: TableMetadata): boolean {
  return metadata.refs[STAGING_BRANCH]?.type === 'branch';
}

/** The snapshot a branch names; undefined when the branch does not exist (or `main` before the first commit). */
export function branchSnapshot(metadata: TableMetadata, branch: string): Snapshot | undefined {
  const ref = Object.hasOwn(metadata.refs, branch) ? metadata.refs[branch] : undefined;
  if (!ref) {
    const current = metadata['current-snapshot-id'];
    return branch === MAIN_BRANCH && current >= 0n ? byId(metadata, current) : undefined;
  }
  const snapshot = byId(metadata, ref['snapshot-id']);
  if (!snapshot) {
    throw new LakeFormatError(`branch ${branch} names snapshot ${ref['snapshot-id']}, which the table lacks`, {
      table: metadata.location,
    });
  }
  return snapshot;
}

/** The snapshot the next commit builds on: the head of `staging` when the table has it, else of `main`. */
export function headSnapshot(metadata: TableMetadata): Snapshot | undefined {
  return branchSnapshot(metadata, hasStaging(metadata) ? STAGING_BRANCH : MAIN_BRANCH);
}

/**
 * The next metadata once `snapshot` is committed to the table's head: `staging` moves when the table has it (and
 * `main`, `current-snapshot-id` and the snapshot log stay), else `main` does as in any Iceberg writer.
 */
export function withCommittedSnapshot(
  metadata: TableMetadata,
  snapshot: Snapshot,
  previousMetadataLocation: string,
  nowMs: number = Date.now(),
): TableMetadata {
  const next = withSnapshot(metadata, snapshot, previousMetadataLocation, nowMs);
  if (!hasStaging(metadata)) return next;
  const staging = { ...metadata.refs[STAGING_BRANCH], 'snapshot-id': snapshot['snapshot-id'], type: 'branch' as const };
  return {
    ...next,
    'current-snapshot-id': metadata['current-snapshot-id'],
    'snapshot-log': metadata['snapshot-log'],
    refs: { ...metadata.refs, [STAGING_BRANCH]: staging },
  };
}

/** `staging` forked at `main`: from now on commits go to staging, and `main` waits for promotion. */
export function withStagingBranch(metadata: TableMetadata): TableMetadata {
  if (hasStaging(metadata)) return metadata;
  const main = branchSnapshot(metadata, MAIN_BRANCH);
  if (!main) return metadata;
  return {
    ...metadata,
    refs: { ...metadata.refs, [STAGING_BRANCH]: { 'snapshot-id': main['snapshot-id'], type: 'branch' } },
  };
}

/**
 * `main` fast-forwarded to `snapshotId`, which must be `main`'s head or one of its descendants (never a rewind and
 * never a jump to another line: readers of `main` only ever see it move forward). The snapshot log records the
 * change of the current snapshot, as every writer's does.
 */
export function withMainAt(metadata: TableMetadata, snapshotId: bigint, nowMs: number = Date.now()): TableMetadata {
  const target = byId(metadata, snapshotId);
  if (!target) {
    throw new LakeFormatError(`snapshot ${snapshotId} is not in the table`, { table: metadata.location });
  }
  const main = branchSnapshot(metadata, MAIN_BRANCH);
  if (main?.['snapshot-id'] === snapshotId) return metadata;
  if (main && !isAncestor(metadata, main['snapshot-id'], target)) {
    throw new LakeFormatError(`snapshot ${snapshotId} does not descend from main's ${main['snapshot-id']}`, {
      table: metadata.location,
    });
  }
  return {
    ...metadata,
    'current-snapshot-id': snapshotId,
    'snapshot-log': [...metadata['snapshot-log'], { 'snapshot-id': snapshotId, 'timestamp-ms': nowMs }],
    refs: {
      ...metadata.refs,
      [MAIN_BRANCH]: { ...metadata.refs[MAIN_BRANCH], 'snapshot-id': snapshotId, type: 'branch' },
    },
  };
}

/** True when `ancestorId` is `snapshot` or on its parent chain. */
export function isAncestor(metadata: TableMetadata, ancestorId: bigint, snapshot: Snapshot): boolean {
  let at: Snapshot | undefined = snapshot;
  while (at) {
    if (at['snapshot-id'] === ancestorId) return true;
    const parent: bigint | undefined = at['parent-snapshot-id'];
    at = parent === undefined ? undefined : byId(metadata, parent);
  }
  return false;
}

/**
 * The snapshots of a branch from its head back (the parent chain, as far as the table still has it). Compaction's
 * `replace` snapshots are on the chain too: they hold the same rows as the snapshot they replaced.
 */
export function branchHistory(metadata: TableMetadata, branch: string): Snapshot[] {
  const chain: Snapshot[] = [];
  let at = branchSnapshot(metadata, branch);
  while (at) {
    chain.push(at);
    const parent = at['parent-snapshot-id'];
    at = parent === undefined ? undefined : byId(metadata, parent);
  }
  return chain;
}
