import type { Catalog } from '../catalog/index.js';
import { LakeFormatError } from '../errors.js';
import type { ObjectStore } from '../storage/index.js';
import { manifestsOfSnapshots, readManifestEntries } from './manifests.js';
import type { Snapshot, TableMetadata } from './metadata.js';
import { commitMetadata, loadTableMetadata, metadataVersion } from './table.js';

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
  for (const ref of Object.values(metadata.refs)) keep.add(ref['snapshot-id']);

  const expired = metadata.snapshots.filter((s) => !keep.has(s['snapshot-id']));
  if (expired.length === 0) return { metadata, expired };
  let snapshotLog: TableMetadata['snapshot-log'] = [];
  for (const entry of metadata['snapshot-log']) {
    snapshotLog = keep.has(entry['snapshot-id']) ? [...snapshotLog, entry] : [];
  }
  return {
    metadata: {
      ...metadata,
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
 * The files that `before`'s snapshots reference and `after`'s do not. A manifest still listed by a kept snapshot
 * stays whole; a data file stays while any kept manifest has it live (a DELETED entry does not keep a file: the
 * snapshot that still saw it live keeps its own manifest).
 */
export async function unreferencedFiles(
  store: ObjectStore,
  before: TableMetadata,
  after: TableMetadata,
): Promise<UnreferencedFiles> {
  const keptIds = new Set(after.snapshots.map((s) => s['snapshot-id']));
  const expired = before.snapshots.filter((s) => !keptIds.has(s['snapshot-id']));
  if (expired.length === 0) return { dataFiles: [], metadataFiles: [] };

  const kept = await manifestsOfSnapshots(store, after.snapshots);
  const keptLive = new Set<string>();
  for (const manifest of kept.values()) {
    for (const entry of await readManifestEntries(store, manifest)) {
      if (entry.status !== 2) keptLive.add(entry.data_file.file_path);
    }
  }
  const dropped = [...(await manifestsOfSnapshots(store, expired)).values()].filter((m) => !kept.has(m.manifest_path));
  const dataFiles = new Set<string>();
  for (const manifest of dropped) {
    for (const entry of await readManifestEntries(store, manifest)) {
      if (!keptLive.has(entry.data_file.file_path)) dataFiles.add(entry.data_file.file_path);
    }
  }
  return {
    dataFiles: [...dataFiles],
    metadataFiles: [...dropped.map((m) => m.manifest_path), ...expired.map((s) => s['manifest-list'])],
  };
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
  const plan = planExpiry(table.metadata, policy);
  const unreferenced = await unreferencedFiles(store, table.metadata, plan.metadata);
  const result = {
    expiredSnapshots: plan.expired.length,
    keptSnapshots: plan.metadata.snapshots.length,
    deletedDataFiles: unreferenced.dataFiles.length,
    deletedMetadataFiles: unreferenced.metadataFiles.length,
  };
  if (policy.dryRun) return { ...result, committed: false };

  let current = table;
  if (plan.expired.length > 0) current = await commitMetadata(store, catalog, table, plan.metadata);
  const keys = [...unreferenced.dataFiles, ...unreferenced.metadataFiles].map((uri) => keyIn(store, uri, identifier));
  const staleVersions = await staleMetadataFiles(store, current.location, current.metadataKey, current.metadata);
  for (const key of [...keys, ...staleVersions]) await store.delete(key);
  return {
    ...result,
    deletedMetadataFiles: result.deletedMetadataFiles + staleVersions.length,
    committed: plan.expired.length > 0,
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
