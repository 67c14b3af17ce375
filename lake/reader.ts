import { PgCdcError } from '../core/errors/index.js';
import type { Catalog } from './catalog/index.js';
import { LakeFormatError } from './errors.js';
import { decodeManifest, decodeManifestList, type ManifestFileRecord } from './iceberg/avro.js';
import { liveManifests } from './iceberg/manifests.js';
import { currentSchema, type Snapshot, type TableMetadata } from './iceberg/metadata.js';
import { headSnapshot } from './iceberg/refs.js';
import type { IcebergSchema } from '../core/types/iceberg.js';
import { loadTableMetadata } from './iceberg/table.js';
import type { ObjectStore } from './storage/index.js';

/**
 * Reading side of the Iceberg tables: which files make up a snapshot. The manifest list names the manifests, each
 * manifest names files with a status; a file is live in the snapshot when its entry is ADDED (1) or EXISTING (0),
 * and gone when DELETED (2). Data and position-delete files are listed apart: applying deletes is the reader's job.
 */
export interface LiveFile {
  /** Absolute location, as written in the manifest. */
  readonly path: string;
  readonly recordCount: number;
  readonly fileSizeInBytes: number;
  /** 0 data, 1 position deletes, 2 equality deletes. */
  readonly content: 0 | 1 | 2;
  /**
   * Where DuckDB reads the file: its local path on a filesystem, its s3:// URL on S3 (read through httpfs);
   * undefined when the file is outside the store.
   */
  readonly localPath: string | undefined;
}

export interface SnapshotFiles {
  readonly identifier: string;
  /** undefined: the table has no snapshot yet (created, nothing committed), so it has no files. */
  readonly snapshot: Snapshot | undefined;
  /** The schema the snapshot was written with (the current schema when it does not say). */
  readonly schema: IcebergSchema;
  readonly dataFiles: readonly LiveFile[];
  /** Position- and equality-delete files; not applied by anything yet. */
  readonly deleteFiles: readonly LiveFile[];
}

export class SnapshotNotFoundError extends PgCdcError {
  constructor(identifier: string, snapshotId: bigint, available: readonly bigint[]) {
    const recent = available.slice(-5).map(String).join(', ');
    super('SNAPSHOT_NOT_FOUND', `table ${identifier} has no snapshot ${snapshotId}`, {
      context: { table: identifier, snapshot: snapshotId },
      hint: available.length ? `its snapshots include: ${recent}` : 'the table has no snapshot yet',
    });
  }
}

const LIVE = new Set([0, 1]);

async function readAvro(store: ObjectStore, location: string, what: string, table: string): Promise<Uint8Array> {
  const key = store.keyOf(location);
  const body = key === undefined ? undefined : await store.get(key);
  if (!body) throw new LakeFormatError(`${what} of ${table} is missing or outside the lake`, { table, file: location });
  return body;
}

function liveFiles(store: ObjectStore, manifest: ManifestFileRecord, bytes: Uint8Array, table: string): LiveFile[] {
  let entries;
  try {
    entries = decodeManifest(bytes);
  } catch (error) {
    throw new LakeFormatError(`manifest of ${table} does not decode`, { table, file: manifest.manifest_path }, error);
  }
  return entries
    .filter((entry) => LIVE.has(entry.status))
    .map(({ data_file: file }) => {
      const key = store.keyOf(file.file_path);
      const content = file.content === 1 || file.content === 2 ? file.content : 0;
      return {
        path: file.file_path,
        recordCount: Number(file.record_count),
        fileSizeInBytes: Number(file.file_size_in_bytes),
        content,
        localPath: key === undefined ? undefined : store.readPath(key),
      };
    });
}

/** The live files of the table's head (what the next commit builds on), or of `snapshotId` when given. */
export async function currentDataFiles(
  store: ObjectStore,
  catalog: Catalog,
  identifier: string,
  options: { readonly snapshotId?: bigint } = {},
): Promise<SnapshotFiles> {
  const { metadata } = await loadTableMetadata(store, catalog, identifier);
  return snapshotFiles(store, identifier, metadata, options);
}

/**
 * The live files of a snapshot of metadata already loaded (the current one by default): for callers that read
 * several snapshots of one table version, or commit on top of it, and so parse its metadata once.
 */
export async function snapshotFiles(
  store: ObjectStore,
  identifier: string,
  metadata: TableMetadata,
  options: { readonly snapshotId?: bigint } = {},
): Promise<SnapshotFiles> {
  let snapshot: Snapshot | undefined;
  if (options.snapshotId === undefined) {
    snapshot = headSnapshot(metadata);
  } else {
    snapshot = metadata.snapshots.find((s) => s['snapshot-id'] === options.snapshotId);
    if (!snapshot) {
      const ids = metadata.snapshots.map((s) => s['snapshot-id']);
      throw new SnapshotNotFoundError(identifier, options.snapshotId, ids);
    }
  }
  const schemaId = snapshot?.['schema-id'];
  const schema = metadata.schemas.find((s) => s['schema-id'] === schemaId) ?? currentSchema(metadata);
  if (!snapshot) return { identifier, snapshot, schema, dataFiles: [], deleteFiles: [] };

  let manifests: ManifestFileRecord[];
  try {
    manifests = decodeManifestList(await readAvro(store, snapshot['manifest-list'], 'manifest list', identifier));
  } catch (error) {
    if (error instanceof LakeFormatError) throw error;
    const context = { table: identifier, file: snapshot['manifest-list'] };
    throw new LakeFormatError(`manifest list of ${identifier} does not decode`, context, error);
  }
  // A manifest of only DELETED entries (a rewrite's or a truncate's removals) has no live file: it is not opened.
  // After a compaction that is every entry the table had, so skipping it is most of what reading the table costs.
  const files = await Promise.all(
    liveManifests(manifests).map(async (manifest) =>
      liveFiles(store, manifest, await readAvro(store, manifest.manifest_path, 'manifest', identifier), identifier),
    ),
  );
  const all = files.flat();
  return {
    identifier,
    snapshot,
    schema,
    dataFiles: all.filter((file) => file.content === 0),
    deleteFiles: all.filter((file) => file.content !== 0),
  };
}
