import { randomUUID, webcrypto } from 'node:crypto';
import type { Catalog } from '../catalog/index.js';
import { CommitConflictError, LakeFormatError, TableExistsError } from '../errors.js';
import type { ObjectStore } from '../storage/index.js';
import { decodeUtf8, joinKey, validateKey } from '../storage/keys.js';
import { encodeManifestList, type ManifestEntryRecord } from './avro.js';
import {
  addedManifests,
  carriedManifests,
  liveManifests,
  readManifestEntries,
  readManifestList,
  writeManifest,
  type ManifestWriter,
} from './manifests.js';
import {
  currentSchema,
  appendMetadataLog,
  newTableMetadata,
  parseTableMetadata,
  serializeTableMetadata,
  snapshotSummary,
  type FileTotals,
  type Snapshot,
  type SnapshotOperation,
  type TableMetadata,
} from './metadata.js';
import { withRawTag, type RawTagRetention } from './raw-tags.js';
import { headSnapshot, withCommittedSnapshot } from './refs.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';

/**
 * Creating Iceberg tables and committing snapshots to them. A commit writes only new, uniquely named files
 * (manifests, manifest list, metadata JSON) and then swaps the catalog pointer; the swap is the commit. A writer
 * that loses the swap deletes the files it wrote (nothing references them) and gets CommitConflictError: it is
 * never retried here, because re-applying an append on top of someone else's commit could duplicate rows.
 */
export interface DataFile {
  /** Absolute location (store.uri). */
  readonly path: string;
  readonly recordCount: number;
  readonly fileSizeInBytes: number;
  /** 0 data (default), 1 position deletes. */
  readonly content?: 0 | 1;
  readonly fileFormat?: 'PARQUET' | 'AVRO' | 'ORC';
  /** Per field id. */
  readonly columnSizes?: Readonly<Record<number, number>>;
  readonly valueCounts?: Readonly<Record<number, number>>;
  readonly nullValueCounts?: Readonly<Record<number, number>>;
  readonly nanValueCounts?: Readonly<Record<number, number>>;
  /** Single-value serialization of each bound (spec Appendix D). */
  readonly lowerBounds?: Readonly<Record<number, Uint8Array>>;
  readonly upperBounds?: Readonly<Record<number, Uint8Array>>;
  readonly splitOffsets?: readonly number[];
}

export interface LoadedTable {
  readonly identifier: string;
  /** Storage key of the table root. */
  readonly location: string;
  /** Storage key of the current metadata file. */
  readonly metadataKey: string;
  readonly metadataLocation: string;
  readonly metadata: TableMetadata;
}

export interface CreateTableInput {
  readonly identifier: string;
  /** Storage key of the table root, e.g. `public/orders`. */
  readonly location: string;
  readonly schema: IcebergSchema;
  readonly properties?: Readonly<Record<string, string>>;
}

export async function createTable(store: ObjectStore, catalog: Catalog, input: CreateTableInput): Promise<LoadedTable> {
  const location = validateKey(joinKey(input.location));
  const metadata = newTableMetadata({
    location: store.uri(location),
    schema: input.schema,
    properties: { 'write.format.default': 'parquet', ...input.properties },
  });
  const metadataKey = metadataFileKey(location, 1);
  await store.putIfAbsent(metadataKey, serializeTableMetadata(metadata));
  try {
    await catalog.createTable(input.identifier, { metadataKey, location });
  } catch (error) {
    if (error instanceof TableExistsError) await store.delete(metadataKey);
    throw error;
  }
  return { identifier: input.identifier, location, metadataKey, metadataLocation: store.uri(metadataKey), metadata };
}

export async function loadTableMetadata(
  store: ObjectStore,
  catalog: Catalog,
  identifier: string,
): Promise<LoadedTable> {
  const entry = await catalog.loadTable(identifier);
  const body = await store.get(entry.metadataKey);
  if (!body) {
    const context = { table: identifier, key: entry.metadataKey };
    throw new LakeFormatError(`metadata file of ${identifier} is missing`, context);
  }
  const metadata = parseTableMetadata(decodeUtf8(body), entry.metadataKey);
  return { ...entry, metadataLocation: store.uri(entry.metadataKey), metadata };
}

/** The newest snapshot whose summary has `property` (equal to `value` when given), e.g. `pgcdc.lsn`. */
export function findSnapshotByProperty(
  metadata: TableMetadata,
  property: string,
  value?: string,
): Snapshot | undefined {
  for (let i = metadata.snapshots.length - 1; i >= 0; i--) {
    const snapshot = metadata.snapshots[i];
    const found = snapshot?.summary[property];
    if (found !== undefined && (value === undefined || found === value)) return snapshot;
  }
  return undefined;
}

export interface AppendInput {
  readonly dataFiles: readonly DataFile[];
  /** Extra summary properties, e.g. `pgcdc.lsn`, `pgcdc.epoch`. */
  readonly summary?: Readonly<Record<string, string>>;
  /** A caller-chosen id makes the commit idempotent: a snapshot with this id already in the table is not redone. */
  readonly snapshotId?: bigint;
  /** Default: append for data only, overwrite when delete files are added or earlier files removed. */
  readonly operation?: SnapshotOperation;
  /**
   * The new snapshot holds only `dataFiles`: every file live in the parent is recorded as DELETED (a TRUNCATE).
   * Totals in the summary restart from the added files.
   */
  readonly replaceAll?: boolean;
  /** Tag the snapshot `raw@<its time>` and prune the raw tags by this retention (an epoch of a state table). */
  readonly rawTag?: RawTagRetention;
}

export interface AppendResult {
  /** false when the snapshot was already there (a retried commit): nothing was written. */
  readonly committed: boolean;
  readonly snapshot: Snapshot;
  readonly table: LoadedTable;
}

/**
 * The table a commit builds on (`loaded`, or read now); `done` instead when the snapshot id the caller chose is in
 * it already (a retried commit), which is then not redone.
 */
export async function loadForCommit(
  store: ObjectStore,
  catalog: Catalog,
  identifier: string,
  snapshotId: bigint | undefined,
  loaded?: LoadedTable,
): Promise<{ table: LoadedTable; done?: AppendResult }> {
  // A caller's loaded table is as good as a fresh read: the catalog swap fails if the table moved on since.
  const table = loaded ?? (await loadTableMetadata(store, catalog, identifier));
  const existing = table.metadata.snapshots.find((s) => s['snapshot-id'] === snapshotId);
  return existing ? { table, done: { committed: false, snapshot: existing, table } } : { table };
}

export async function appendFiles(
  store: ObjectStore,
  catalog: Catalog,
  identifier: string,
  input: AppendInput,
): Promise<AppendResult> {
  const { table, done } = await loadForCommit(store, catalog, identifier, input.snapshotId);
  if (done) return done;
  const { metadata } = table;

  const snapshotId = input.snapshotId ?? randomSnapshotId();
  const sequenceNumber = metadata['last-sequence-number'] + 1;
  const parent = headSnapshot(metadata);
  const schema = currentSchema(metadata);
  const files = new CommitFiles(store);
  const writer: ManifestWriter = {
    schema,
    location: table.location,
    snapshotId,
    sequenceNumber,
    put: (key, body) => files.put(key, body),
  };

  try {
    const manifests = await addedManifests(input.dataFiles, writer);
    let removed: RemovedTotals | undefined;
    if (parent && input.replaceAll) {
      const earlier = await removedEntries(store, parent['manifest-list'], snapshotId);
      removed = earlier.totals;
      for (const [content, entries] of [earlier.data, earlier.deletes].entries()) {
        if (entries.length > 0) manifests.push(await writeManifest(writer, content, entries));
      }
    } else if (parent) {
      // Earlier manifests stay as they are (a fast append), merged once they pile up.
      manifests.push(...(await carriedManifests(store, parent['manifest-list'], writer)));
    }

    const manifestList = encodeManifestList({
      snapshotId,
      parentSnapshotId: parent?.['snapshot-id'],
      sequenceNumber,
      manifests,
    });
    const listKey = joinKey(table.location, 'metadata', `snap-${snapshotId}-1-${randomUUID()}.avro`);
    const data = input.dataFiles.filter((f) => (f.content ?? 0) === 0);
    const deletes = input.dataFiles.filter((f) => f.content === 1);
    const snapshot: Snapshot = {
      'snapshot-id': snapshotId,
      ...(parent ? { 'parent-snapshot-id': parent['snapshot-id'] } : {}),
      'sequence-number': sequenceNumber,
      // Never before the previous commit, whatever the clock says: readers expect snapshot times to increase.
      'timestamp-ms': Math.max(Date.now(), metadata['last-updated-ms']),
      'manifest-list': await files.put(listKey, manifestList),
      summary: snapshotSummary(
        input.operation ?? defaultOperation(data.length, deletes.length, input.replaceAll === true),
        {
          dataFiles: data.length,
          dataRecords: data.reduce((n, f) => n + f.recordCount, 0),
          deleteFiles: deletes.length,
          positionDeletes: deletes.reduce((n, f) => n + f.recordCount, 0),
          filesSize: input.dataFiles.reduce((n, f) => n + f.fileSizeInBytes, 0),
        },
        input.replaceAll ? undefined : parent?.summary,
        { ...(removed ? removedSummary(removed) : {}), ...input.summary },
      ),
      'schema-id': schema['schema-id'],
    };
    return await commitSnapshot(catalog, table, snapshot, files, input.rawTag);
  } catch (error) {
    return files.discardOnConflict(error);
  }
}

/**
 * The files a commit writes: each new and uniquely named (an existing name is an error, never an overwrite). If the
 * commit loses the catalog swap they are deleted: only a lost swap proves that nothing references them; after any
 * other failure they may be live.
 */
export class CommitFiles {
  private readonly written: string[] = [];

  constructor(private readonly store: ObjectStore) {}

  /** Writes `body` at `key`; returns its location. */
  async put(key: string, body: Uint8Array | string): Promise<string> {
    if (!(await this.store.putIfAbsent(key, body))) throw new LakeFormatError('file name collision', { key });
    this.written.push(key);
    return this.store.uri(key);
  }

  /** Rethrows `error`, after deleting the files written if it is a lost swap. */
  async discardOnConflict(error: unknown): Promise<never> {
    if (error instanceof CommitConflictError) await Promise.all(this.written.map((key) => this.store.delete(key)));
    throw error;
  }
}

/**
 * Makes `snapshot` the head of the table (of `staging` when it has that branch, else of `main`), tagged
 * `raw@<time>` when `rawTag` says so: the next metadata version is written, then the catalog pointer swapped.
 */
export async function commitSnapshot(
  catalog: Catalog,
  table: LoadedTable,
  snapshot: Snapshot,
  files: CommitFiles,
  rawTag?: RawTagRetention,
): Promise<AppendResult> {
  const committed = withCommittedSnapshot(table.metadata, snapshot, table.metadataLocation);
  const next = rawTag ? withRawTag(committed, snapshot, rawTag) : committed;
  const metadataKey = metadataFileKey(table.location, metadataVersion(table.metadataKey) + 1);
  const metadataLocation = await files.put(metadataKey, serializeTableMetadata(next));
  await catalog.commitTable(table.identifier, table.metadataKey, metadataKey);
  return { committed: true, snapshot, table: { ...table, metadataKey, metadataLocation, metadata: next } };
}

/**
 * Commits table metadata that adds no snapshot (snapshot expiry, later a schema change): `next` is written as the
 * following metadata version, with the file it replaces recorded in the metadata log, and the catalog pointer is
 * swapped. A lost swap deletes the new file and throws CommitConflictError, as a lost append does.
 */
export async function commitMetadata(
  store: ObjectStore,
  catalog: Catalog,
  table: LoadedTable,
  next: TableMetadata,
  nowMs: number = Date.now(),
): Promise<LoadedTable> {
  const metadata: TableMetadata = {
    ...next,
    'last-updated-ms': Math.max(nowMs, table.metadata['last-updated-ms']),
    'metadata-log': appendMetadataLog(next, table.metadataLocation, table.metadata['last-updated-ms']),
  };
  const metadataKey = metadataFileKey(table.location, metadataVersion(table.metadataKey) + 1);
  const files = new CommitFiles(store);
  try {
    const metadataLocation = await files.put(metadataKey, serializeTableMetadata(metadata));
    await catalog.commitTable(table.identifier, table.metadataKey, metadataKey);
    return { ...table, metadataKey, metadataLocation, metadata };
  } catch (error) {
    return files.discardOnConflict(error);
  }
}

/** Random positive 63-bit id, as Java and PyIceberg make them; never 0. */
export function randomSnapshotId(): bigint {
  for (;;) {
    const id = webcrypto.getRandomValues(new BigUint64Array(1))[0]! & 0x7fff_ffff_ffff_ffffn;
    if (id !== 0n) return id;
  }
}

function defaultOperation(dataFiles: number, deleteFiles: number, replaceAll: boolean): SnapshotOperation {
  if (replaceAll) return dataFiles > 0 ? 'overwrite' : 'delete';
  return deleteFiles > 0 ? 'overwrite' : 'append';
}

type RemovedTotals = FileTotals;

/** The summary keys Java's SnapshotSummary writes for removed files. */
export function removedSummary(removed: RemovedTotals): Record<string, string> {
  const summary: Record<string, string> = {};
  if (removed.dataFiles > 0) {
    summary['deleted-data-files'] = String(removed.dataFiles);
    summary['deleted-records'] = String(removed.dataRecords);
  }
  if (removed.deleteFiles > 0) {
    summary['removed-delete-files'] = String(removed.deleteFiles);
    summary['removed-position-delete-files'] = String(removed.deleteFiles);
    summary['removed-position-deletes'] = String(removed.positionDeletes);
  }
  if (removed.filesSize > 0) summary['removed-files-size'] = String(removed.filesSize);
  return summary;
}

/**
 * Every live file of a snapshot as a DELETED entry of `snapshotId`. Entries keep their data and file sequence
 * numbers; an ADDED entry that inherited them from its manifest (null in the file) gets the manifest's.
 */
async function removedEntries(
  store: ObjectStore,
  manifestList: string,
  snapshotId: bigint,
): Promise<{ data: ManifestEntryRecord[]; deletes: ManifestEntryRecord[]; totals: RemovedTotals }> {
  const data: ManifestEntryRecord[] = [];
  const deletes: ManifestEntryRecord[] = [];
  for (const manifest of liveManifests(await readManifestList(store, manifestList))) {
    for (const entry of await readManifestEntries(store, manifest)) {
      if (entry.status === 2) continue;
      const removed: ManifestEntryRecord = { ...entry, status: 2, snapshot_id: snapshotId };
      (manifest.content === 0 ? data : deletes).push(removed);
    }
  }
  const count = (entries: ManifestEntryRecord[]): number =>
    entries.reduce((n, e) => n + Number(e.data_file.record_count), 0);
  const size = [...data, ...deletes].reduce((n, e) => n + Number(e.data_file.file_size_in_bytes), 0);
  return {
    data,
    deletes,
    totals: {
      dataFiles: data.length,
      dataRecords: count(data),
      deleteFiles: deletes.length,
      positionDeletes: count(deletes),
      filesSize: size,
    },
  };
}

/** `<location>/metadata/00001-<uuid>.metadata.json`: unique, and sortable by version like Java's names. */
export function metadataFileKey(location: string, version: number): string {
  return joinKey(location, 'metadata', `${String(version).padStart(5, '0')}-${randomUUID()}.metadata.json`);
}

export function metadataVersion(metadataKey: string): number {
  const match = /(?:^|\/)v?(\d+)[-.][^/]*$/.exec(metadataKey);
  return match ? Number(match[1]) : 0;
}
