import type { Catalog } from '../catalog/index.js';
import type { ObjectStore } from '../storage/index.js';
import { LakeFormatError } from '../errors.js';
import { deleteAll, mapBounded } from '../storage/bounded.js';
import { ManifestReads, manifestsOfSnapshots } from './manifests.js';
import { loadTableMetadata, type LoadedTable } from './table.js';

/**
 * Files under a table's `data/` and `metadata/` that nothing of the table references: the leftovers of commits
 * that crashed or lost their swap after writing, and of rewrites that were never committed. Iceberg's
 * remove_orphan_files does the same. Only files older than `graceMs` go: a commit in flight (an epoch, a
 * compaction's rewrite) has written files that nothing references yet, and they must survive until it commits.
 */
export interface OrphanSweep {
  readonly candidates: number;
  readonly deleted: readonly string[];
}

export interface SweepOptions {
  readonly graceMs: number;
  readonly nowMs?: number;
  readonly dryRun?: boolean;
}

export async function removeOrphanFiles(
  store: ObjectStore,
  catalog: Catalog,
  identifier: string,
  options: SweepOptions,
): Promise<OrphanSweep> {
  return sweepOrphans(await loadTableMetadata(store, catalog, identifier), options, new ManifestReads(store));
}

/** `removeOrphanFiles` on a table already loaded, reading manifests through `reads` (shared with expiry). */
export async function sweepOrphans(
  table: LoadedTable,
  options: SweepOptions,
  reads: ManifestReads,
): Promise<OrphanSweep> {
  const { store } = reads;
  const { metadata } = table;
  const referenced = new Set<string>([table.metadataKey]);
  const add = (uri: string): void => {
    const key = store.keyOf(uri);
    if (key !== undefined) referenced.add(key);
  };
  for (const entry of metadata['metadata-log']) add(entry['metadata-file']);
  try {
    const manifests = [...(await manifestsOfSnapshots(reads, metadata.snapshots)).values()];
    for (const snapshot of metadata.snapshots) add(snapshot['manifest-list']);
    for (const manifest of manifests) add(manifest.manifest_path);
    // Every entry, DELETED ones too: a file a kept manifest names at all may still be live in an older snapshot.
    for (const entries of await mapBounded(manifests, (m) => reads.entries(m))) {
      for (const entry of entries) add(entry.data_file.file_path);
    }
  } catch (error) {
    // A snapshot whose files are unreadable is left to the reader that trips on it: nothing is deleted blind.
    if (error instanceof LakeFormatError) return { candidates: 0, deleted: [] };
    throw error;
  }

  const now = options.nowMs ?? Date.now();
  const keys = [...(await store.list(`${table.location}/data/`)), ...(await store.list(`${table.location}/metadata/`))];
  const candidates = keys.filter((key) => !referenced.has(key));
  const modified = await mapBounded(candidates, (key) => store.modifiedAt(key));
  const deleted = candidates.filter((_, i) => modified[i] !== undefined && now - modified[i] >= options.graceMs);
  if (!options.dryRun) await deleteAll(store, deleted);
  return { candidates: candidates.length, deleted };
}
