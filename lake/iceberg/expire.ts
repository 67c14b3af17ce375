import type { Catalog } from '../catalog/index.js';
import { LakeFormatError } from '../errors.js';
import type { ManifestFileRecord } from './avro.js';
import { deleteAll, mapBounded } from '../storage/bounded.js';
import type { ObjectStore } from '../storage/index.js';
import { ManifestReads, manifestsOfSnapshots } from './manifests.js';
import type { Snapshot, TableMetadata } from './metadata.js';
import { rawTagsWithin } from './raw-tags.js';
import { STAGING_BRANCH } from './refs.js';
import { commitMetadata, loadTableMetadata, metadataVersion, type LoadedTable } from './table.js';

/**
 * Snapshot expiry and the removal of the files only expired snapshots referenced, as Iceberg's ExpireSnapshots
 * does it (Java's RemoveSnapshots with its reachable-file cleanup): the snapshots to keep are chosen first and
 * committed as new metadata; only then are files deleted, and only those that no kept snapshot can reach. A crash
 * between the two leaves unreferenced files behind, never a referenced one missing.
 */
export interface ExpiryPolicy {
  /** The newest snapshots kept whatever their age (`compaction.retain_snapshots`); at least 1. */
  readonly retainLast: number;
}

export interface ExpiryPlan {
  /** The table's metadata without the expired snapshots (not committed yet). */
  readonly metadata: TableMetadata;
  readonly expired: readonly Snapshot[];
}

/**
 * Which snapshots go: every one that is neither among the newest `retainLast` (by sequence number), nor the
 * current one, nor named by a branch or tag. The snapshot log loses the expired entries and, as in Java, every
 * entry before the newest expired one, so the log never has a gap a time-travel query could fall into.
 */
export function planExpiry(metadata: TableMetadata, policy: ExpiryPolicy): ExpiryPlan {
  if (!Number.isSafeInteger(policy.retainLast) || policy.retainLast < 1) {
    throw new RangeError(`retainLast must be an integer >= 1, got ${policy.retainLast}`);
  }
  const keep = new Set<bigint>();
  const newestFirst = [...metadata.snapshots].sort((a, b) => b['sequence-number'] - a['sequence-number']);
  for (const snapshot of newestFirst.slice(0, policy.retainLast)) keep.add(snapshot['snapshot-id']);
  if (metadata['current-snapshot-id'] >= 0n) keep.add(metadata['current-snapshot-id']);
  // pg-cdc's raw tags mark flushes; they never hold a snapshot past the retained ones (raw-tags.ts).
  const refs = rawTagsWithin(metadata.refs, keep);
  for (const ref of Object.values(refs)) keep.add(ref['snapshot-id']);

  const expired = metadata.snapshots.filter((s) => !keep.has(s['snapshot-id']));
  if (expired.length === 0) return { metadata, expired };
  let snapshotLog: TableMetadata['snapshot-log'] = [];
  for (const entry of metadata['snapshot-log']) {
    snapshotLog = keep.has(entry['snapshot-id']) ? [...snapshotLog, entry] : [];
  }
  return {
    metadata: {
      ...metadata,
      refs,
      snapshots: metadata.snapshots.filter((s) => keep.has(s['snapshot-id'])),
      'snapshot-log': snapshotLog,
    },
    expired,
  };
}

export interface UnreferencedFiles {
  /** Data and position-delete files only expired snapshots had live. */
  readonly dataFiles: readonly string[];
  /** Manifests and manifest lists only expired snapshots used. */
  readonly metadataFiles: readonly string[];
}

/**
 * The files that `before`'s snapshots reference and `after`'s do not. When the expired snapshots are the oldest of
 * a linear history (every snapshot and ref on one line back from the head: what pg-cdc's tables are), a file
 * can only have become unreachable by a removal that an expired snapshot made, so only manifests with DELETED
 * entries are opened, as Iceberg's IncrementalFileCleanup does. Otherwise (a tag or branch keeps an older snapshot)
 * every kept manifest is read to find what is still reachable, as its ReachableFileCleanup does.
 */
export async function unreferencedFiles(
  reads: ManifestReads,
  before: TableMetadata,
  after: TableMetadata,
): Promise<UnreferencedFiles> {
  const keptIds = new Set(after.snapshots.map((s) => s['snapshot-id']));
  const expired = before.snapshots.filter((s) => !keptIds.has(s['snapshot-id']));
  if (expired.length === 0) return { dataFiles: [], metadataFiles: [] };

  const kept = await manifestsOfSnapshots(reads, after.snapshots);
  const dropped = [...(await manifestsOfSnapshots(reads, expired)).values()].filter((m) => !kept.has(m.manifest_path));
  const dataFiles = expiresOldestOfLinearHistory(before, keptIds)
    ? await removedByExpired(reads, [...dropped, ...kept.values()], expired)
    : await unreachable(reads, kept, dropped);
  return {
    dataFiles,
    metadataFiles: [...dropped.map((m) => m.manifest_path), ...expired.map((s) => s['manifest-list'])],
  };
}

/**
 * One line of history: every snapshot an ancestor of the newest head (`staging` when the table has it, else the
 * current one), every branch and tag on that line (pg-cdc's `main`, `staging` and `raw@` tags are), and every kept
 * snapshot newer than every expired one.
 */
function expiresOldestOfLinearHistory(metadata: TableMetadata, keptIds: ReadonlySet<bigint>): boolean {
  const byId = new Map(metadata.snapshots.map((s) => [s['snapshot-id'], s]));
  const headId = metadata.refs[STAGING_BRANCH]?.['snapshot-id'] ?? metadata['current-snapshot-id'];
  const line = new Set<bigint>();
  let ancestors = 0;
  let oldestKept = Infinity;
  let newestExpired = -Infinity;
  let at = byId.get(headId);
  // Bounded by the snapshot count: a parent cycle (corrupt metadata) ends the walk, and takes the careful path.
  for (; at && ancestors <= metadata.snapshots.length; at = byId.get(at['parent-snapshot-id'] ?? -1n)) {
    ancestors++;
    line.add(at['snapshot-id']);
    if (keptIds.has(at['snapshot-id'])) oldestKept = Math.min(oldestKept, at['sequence-number']);
    else newestExpired = Math.max(newestExpired, at['sequence-number']);
  }
  if (Object.values(metadata.refs).some((ref) => !line.has(ref['snapshot-id']))) return false;
  return ancestors === metadata.snapshots.length && newestExpired < oldestKept;
}

/**
 * Files an expired snapshot removed (DELETED entries written by it). In a linear history they were live only in
 * the snapshots before their removal, all of them expired too.
 */
async function removedByExpired(
  reads: ManifestReads,
  manifests: readonly ManifestFileRecord[],
  expired: readonly Snapshot[],
): Promise<string[]> {
  const expiredIds = new Set(expired.map((s) => BigInt(s['snapshot-id'])));
  const withRemovals = manifests.filter((m) => m.deleted_files_count > 0);
  const files = new Set<string>();
  for (const entries of await mapBounded(withRemovals, (m) => reads.entries(m))) {
    for (const entry of entries) {
      if (entry.status === 2 && entry.snapshot_id !== null && expiredIds.has(BigInt(entry.snapshot_id))) {
        files.add(entry.data_file.file_path);
      }
    }
  }
  return [...files];
}

/**
 * Files the dropped manifests name that no kept manifest has live (a DELETED entry does not keep a file: the
 * snapshot that still saw it live keeps its own manifest).
 */
async function unreachable(
  reads: ManifestReads,
  kept: ReadonlyMap<string, ManifestFileRecord>,
  dropped: readonly ManifestFileRecord[],
): Promise<string[]> {
  const keptLive = new Set<string>();
  for (const entries of await mapBounded([...kept.values()], (m) => reads.entries(m))) {
    for (const entry of entries) if (entry.status !== 2) keptLive.add(entry.data_file.file_path);
  }
  const files = new Set<string>();
  for (const entries of await mapBounded(dropped, (m) => reads.entries(m))) {
    for (const entry of entries) if (!keptLive.has(entry.data_file.file_path)) files.add(entry.data_file.file_path);
  }
  return [...files];
}

export interface ExpiryResult {
  readonly expiredSnapshots: number;
  readonly keptSnapshots: number;
  readonly deletedDataFiles: number;
  readonly deletedMetadataFiles: number;
  /** false with `dryRun`, or when nothing was due. */
  readonly committed: boolean;
}

/**
 * Expires a table's snapshots under `policy`, commits the metadata, then deletes what no kept snapshot and no
 * metadata file in the log references: the expired snapshots' files and the metadata JSON versions that fell off
 * the log (bounded by `write.metadata.previous-versions-max`). Metadata files newer than the current one are left
 * alone: they may belong to a commit in flight.
 */
export async function expireSnapshots(
  store: ObjectStore,
  catalog: Catalog,
  identifier: string,
  policy: ExpiryPolicy & { readonly dryRun?: boolean },
): Promise<ExpiryResult> {
  const table = await loadTableMetadata(store, catalog, identifier);
  return (await expireTable(catalog, table, policy, new ManifestReads(store))).result;
}

/**
 * `expireSnapshots` on a table already loaded, reading manifests through `reads` (which the orphan sweep after it
 * may share); also returns the table as committed.
 */
export async function expireTable(
  catalog: Catalog,
  table: LoadedTable,
  policy: ExpiryPolicy & { readonly dryRun?: boolean },
  reads: ManifestReads,
): Promise<{ result: ExpiryResult; table: LoadedTable }> {
  const { store } = reads;
  const plan = planExpiry(table.metadata, policy);
  const unreferenced = await unreferencedFiles(reads, table.metadata, plan.metadata);
  const result = {
    expiredSnapshots: plan.expired.length,
    keptSnapshots: plan.metadata.snapshots.length,
    deletedDataFiles: unreferenced.dataFiles.length,
    deletedMetadataFiles: unreferenced.metadataFiles.length,
  };
  if (policy.dryRun) return { result: { ...result, committed: false }, table };

  let current = table;
  if (plan.expired.length > 0) current = await commitMetadata(store, catalog, table, plan.metadata);
  const keys = [...unreferenced.dataFiles, ...unreferenced.metadataFiles].map((uri) =>
    keyIn(store, uri, table.identifier),
  );
  const staleVersions = await staleMetadataFiles(store, current.location, current.metadataKey, current.metadata);
  await deleteAll(store, [...keys, ...staleVersions]);
  return {
    result: {
      ...result,
      deletedMetadataFiles: result.deletedMetadataFiles + staleVersions.length,
      committed: plan.expired.length > 0,
    },
    table: current,
  };
}

/** `*.metadata.json` files older than the current version that the metadata log no longer lists. */
async function staleMetadataFiles(
  store: ObjectStore,
  location: string,
  currentKey: string,
  metadata: TableMetadata,
): Promise<string[]> {
  const logged = new Set(metadata['metadata-log'].map((entry) => store.keyOf(entry['metadata-file'])));
  const currentVersion = metadataVersion(currentKey);
  const keys = await store.list(`${location}/metadata/`);
  return keys.filter(
    (key) =>
      key.endsWith('.metadata.json') && key !== currentKey && !logged.has(key) && metadataVersion(key) < currentVersion,
  );
}

function keyIn(store: ObjectStore, uri: string, table: string): string {
  const key = store.keyOf(uri);
  if (key === undefined)
    throw new LakeFormatError('a file of the table lies outside the warehouse', { table, file: uri });
  return key;
}
