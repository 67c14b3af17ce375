import { randomUUID } from 'node:crypto';
import type { Catalog } from '../catalog/index.js';
import { CommitConflictError, LakeFormatError } from '../errors.js';
import type { ObjectStore } from '../storage/index.js';
import { joinKey } from '../storage/keys.js';
import { encodeManifestList, type ManifestEntryRecord, type ManifestFileRecord } from './avro.js';
import {
  addedManifests,
  liveManifests,
  readManifestEntries,
  readManifestList,
  writeManifest,
  type ManifestWriter,
} from './manifests.js';
import { currentSchema, snapshotSummary, type FileTotals, type Snapshot } from './metadata.js';
import { headSnapshot } from './refs.js';
import {
  commitSnapshot,
  CommitFiles,
  loadForCommit,
  randomSnapshotId,
  removedSummary,
  type AppendResult,
  type DataFile,
  type LoadedTable,
} from './table.js';

/**
 * Rewriting files: one snapshot that removes some live files and adds others, as Iceberg's RewriteFiles does it.
 * Manifests that hold no removed file are carried over as they are; a manifest that does is written again with
 * the removed entries DELETED (by this snapshot) and the rest EXISTING, their sequence numbers kept, so every
 * position delete still applies to exactly the files it applied to before. The operation is `replace` unless
 * the caller says otherwise: the table's rows are the same before and after.
 */
export interface RewriteFilesInput {
  /** Locations (as the manifests write them) of live data and delete files to remove. */
  readonly remove: ReadonlySet<string>;
  readonly add: readonly DataFile[];
  /** The snapshot the rewrite was planned on; CommitConflictError if the table has moved past it. */
  readonly expectedSnapshotId?: bigint;
  readonly summary?: Readonly<Record<string, string>>;
  readonly snapshotId?: bigint;
  /** The table as the caller loaded it, to build on without reading its metadata again; loaded when absent. */
  readonly table?: LoadedTable;
}

export async function rewriteFiles(
  store: ObjectStore,
  catalog: Catalog,
  identifier: string,
  input: RewriteFilesInput,
): Promise<AppendResult> {
  const { table, done } = await loadForCommit(store, catalog, identifier, input.snapshotId, input.table);
  if (done) return done;
  const { metadata } = table;
  const parent = headSnapshot(metadata);
  if (!parent) throw new LakeFormatError(`${identifier} has no snapshot to rewrite`, { table: identifier });
  if (input.expectedSnapshotId !== undefined && parent['snapshot-id'] !== input.expectedSnapshotId) {
    throw new CommitConflictError(`${identifier} moved on while its rewrite was prepared`, {
      table: identifier,
      expected: String(input.expectedSnapshotId),
      actual: String(parent['snapshot-id']),
    });
  }

  const snapshotId = input.snapshotId ?? randomSnapshotId();
  const sequenceNumber = metadata['last-sequence-number'] + 1;
  const schema = currentSchema(metadata);
  const files = new CommitFiles(store);
  const put = (key: string, body: Uint8Array): Promise<string> => files.put(key, body);
  try {
    const writer: ManifestWriter = { schema, location: table.location, snapshotId, sequenceNumber, put };
    const carried = await carryManifests(store, parent, input.remove, writer);
    const notLive = [...input.remove].filter((path) => !carried.removedPaths.has(path));
    if (notLive.length > 0) {
      throw new CommitConflictError(`${identifier}: files to rewrite are no longer live`, {
        table: identifier,
        expected: notLive[0],
        actual: undefined,
      });
    }
    const added = await addedManifests(input.add, writer);
    const manifests = [...added, ...carried.manifests];
    const manifestList = encodeManifestList({
      snapshotId,
      parentSnapshotId: parent['snapshot-id'],
      sequenceNumber,
      manifests,
    });
    const listKey = joinKey(table.location, 'metadata', `snap-${snapshotId}-1-${randomUUID()}.avro`);
    const snapshot: Snapshot = {
      'snapshot-id': snapshotId,
      'parent-snapshot-id': parent['snapshot-id'],
      'sequence-number': sequenceNumber,
      'timestamp-ms': Math.max(Date.now(), metadata['last-updated-ms']),
      'manifest-list': await put(listKey, manifestList),
      summary: snapshotSummary(
        'replace',
        totalsOf(input.add),
        parent.summary,
        {
          ...removedSummary(carried.removed),
          ...input.summary,
        },
        carried.removed,
      ),
      'schema-id': schema['schema-id'],
    };
    return await commitSnapshot(catalog, table, snapshot, files);
  } catch (error) {
    return files.discardOnConflict(error);
  }
}

const ZERO: FileTotals = { dataFiles: 0, dataRecords: 0, deleteFiles: 0, positionDeletes: 0, filesSize: 0 };

function totalsOf(files: readonly DataFile[]): FileTotals {
  const data = files.filter((f) => (f.content ?? 0) === 0);
  const deletes = files.filter((f) => f.content === 1);
  return {
    dataFiles: data.length,
    dataRecords: data.reduce((n, f) => n + f.recordCount, 0),
    deleteFiles: deletes.length,
    positionDeletes: deletes.reduce((n, f) => n + f.recordCount, 0),
    filesSize: files.reduce((n, f) => n + f.fileSizeInBytes, 0),
  };
}

/**
 * The parent's manifests: those with no removed file carried as they are; the entries of the others written again
 * into one manifest per content (data, deletes), the removed ones DELETED. Manifests of only DELETED entries (an
 * earlier snapshot's removals) are dropped, as Java drops them: a reader of this snapshot has nothing to find there.
 */
async function carryManifests(
  store: ObjectStore,
  parent: Snapshot,
  remove: ReadonlySet<string>,
  writer: ManifestWriter,
): Promise<{ manifests: ManifestFileRecord[]; removedPaths: Set<string>; removed: FileTotals }> {
  const manifests: ManifestFileRecord[] = [];
  const rewritten: [ManifestEntryRecord[], ManifestEntryRecord[]] = [[], []];
  const removedPaths = new Set<string>();
  let removed = ZERO;
  for (const manifest of liveManifests(await readManifestList(store, parent['manifest-list']))) {
    const entries = await readManifestEntries(store, manifest);
    if (!entries.some((e) => e.status !== 2 && remove.has(e.data_file.file_path))) {
      manifests.push(manifest);
      continue;
    }
    for (const entry of entries) {
      // DELETED entries of earlier snapshots are dropped from a rewritten manifest, as Java does.
      if (entry.status === 2) continue;
      const into = rewritten[manifest.content === 0 ? 0 : 1];
      if (remove.has(entry.data_file.file_path)) {
        removedPaths.add(entry.data_file.file_path);
        removed = plus(removed, entry);
        into.push({ ...entry, status: 2, snapshot_id: writer.snapshotId });
      } else {
        into.push({ ...entry, status: 0 });
      }
    }
  }
  for (const [content, entries] of rewritten.entries()) {
    if (entries.length > 0) manifests.push(await writeManifest(writer, content, entries));
  }
  return { manifests, removedPaths, removed };
}

function plus(totals: FileTotals, entry: ManifestEntryRecord): FileTotals {
  const records = Number(entry.data_file.record_count);
  const isData = entry.data_file.content === 0;
  return {
    dataFiles: totals.dataFiles + (isData ? 1 : 0),
    dataRecords: totals.dataRecords + (isData ? records : 0),
    deleteFiles: totals.deleteFiles + (isData ? 0 : 1),
    positionDeletes: totals.positionDeletes + (isData ? 0 : records),
    filesSize: totals.filesSize + Number(entry.data_file.file_size_in_bytes),
  };
}
