import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { DuckDBInstance } from '@duckdb/node-api';
import type { PgCdcConfig } from '../core/config/index.js';
import { PgCdcError } from '../core/errors/index.js';
import type { Logger } from '../core/log/index.js';
import { LocalCatalog } from '../lake/catalog/local.js';
import { TableExistsError } from '../lake/errors.js';
import { currentSnapshot } from '../lake/iceberg/metadata.js';
import type { IcebergSchema } from '../core/types/iceberg.js';
import { appendFiles, createTable, loadTableMetadata, type DataFile } from '../lake/iceberg/table.js';
import { ManifestStore, emptyManifest } from '../lake/manifest.js';
import {
  openDuckDB,
  prepareStreamWrites,
  writeParquetFromStream,
  type WrittenParquet,
  type WriteParquetRequest,
} from '../lake/parquet/writer.js';
import {
  commitEpoch,
  prepareLocator,
  type ChangeBatch,
  type ChangeCodec,
  type EpochCommit,
} from '../lake/state/index.js';
import { createObjectStore, type ObjectStore } from '../lake/storage/index.js';

export class LakeNotEmptyError extends PgCdcError {
  constructor(tables: readonly string[]) {
    super(
      'LAKE_NOT_EMPTY',
      `the lake already holds ${tables.length} table(s) from an earlier snapshot: ${tables.slice(0, 5).join(', ')}${tables.length > 5 ? ', ...' : ''}`,
      {
        hint: 'a new snapshot never mixes with old data: `pg-cdc teardown --purge-storage` empties the lake, or point storage.path somewhere else',
      },
    );
  }
}

/** A table's place in the lake: `<schema>/<table>`, each part escaped so that no name can climb out or collide. */
export function tableLocation(schema: string, name: string): string {
  const segment = (part: string): string => encodeURIComponent(part).replace(/\./g, '%2E');
  return `${segment(schema)}/${segment(name)}`;
}

/**
 * The snapshot id of a table's base snapshot, derived from the table and the slot's consistent point: a retried
 * commit finds its own snapshot instead of adding a second copy of the data.
 */
function baseSnapshotId(identifier: string, lsn: string): bigint {
  const digest = createHash('sha256').update(`${identifier}\u0000${lsn}`).digest();
  return digest.readBigUInt64BE(0) & 0x7fff_ffff_ffff_ffffn;
}

export interface BaseCommit {
  readonly identifier: string;
  readonly location: string;
  readonly schema: IcebergSchema;
  readonly files: readonly DataFile[];
  readonly lsn: string;
  readonly slot: string;
  readonly primaryKey: readonly string[];
  readonly source: { readonly database: string; readonly host: string; readonly publication: string };
}

export interface NewDataFile {
  readonly localPath: string;
  commit(written: WrittenParquet): Promise<DataFile>;
}

/** What activities need of the lake: storage, the catalog, the manifest and a DuckDB for Parquet. */
export interface LakeAccess {
  readonly store: ObjectStore;
  listTableIdentifiers(): Promise<string[]>;
  newDataFile(location: string, name: string): Promise<NewDataFile>;
  writeParquet(rows: Readable, request: Omit<WriteParquetRequest, 'input'>): Promise<WrittenParquet>;
  /**
   * Open what writeParquet needs (its DuckDB, its pipes) ahead of the first write, in the background; a failure is
   * raised by the write that needs it.
   */
  prepareWrites(): void;
  deleteSnapshotFiles(namePrefix: string): Promise<number>;
  commitBase(commit: BaseCommit): Promise<string>;
  /** One flush epoch into the table's state and changelog tables; idempotent (see lake/state). */
  commitEpoch(batch: ChangeBatch, codec: ChangeCodec): Promise<EpochCommit>;
  /** The table's last committed epoch (0: only the snapshot base), from its current Iceberg snapshot. */
  committedEpoch(table: string): Promise<number>;
  /** Builds the table's locator now if it is not current, so its next epoch need not (see lake/state). */
  prepareLocator(table: string, codec: ChangeCodec): Promise<void>;
}

export function openLakeAccess(config: PgCdcConfig, log: Logger): Promise<LakeAccess> {
  const store = createObjectStore(config.storage);
  const catalog = new LocalCatalog(store);
  const manifest = new ManifestStore(store);
  // Epoch commits share one bounded DuckDB, so the stream worker's memory stays bounded whatever an epoch holds.
  // Opened on the first epoch: a process that only snapshots never needs it.
  let epochDuck: ReturnType<typeof openDuckDB> | undefined;
  const epochDuckDB = async (): Promise<DuckDBInstance> =>
    (await (epochDuck ??= openDuckDB({ memoryLimit: process.env.PGCDC_DUCKDB_MEMORY_LIMIT ?? '256MB' }))).instance;
  // Snapshot chunks get their own, opened before the first chunk: each of init.parallel_workers concurrent Parquet
  // writers holds a row group in memory, which a limit sized for epochs cannot fit (out of memory at 4 writers).
  // One thread: a chunk is one stream from a pipe, written by the thread that runs its statement, and the chunks
  // run side by side. Helper threads on top only contend with the other chunks and with PostgreSQL for the same
  // cores (a 2 M-row init on 2 cores took 50-170 ms longer, median of 8-10 runs, with DuckDB's default of 2).
  let snapshotDuck: ReturnType<typeof openDuckDB> | undefined;
  const snapshotWriters = (): ReturnType<typeof openDuckDB> =>
    (snapshotDuck ??= openDuckDB({
      threads: 1,
      memoryLimit: process.env.PGCDC_DUCKDB_SNAPSHOT_MEMORY_LIMIT ?? `${256 + 256 * config.init.parallel_workers}MB`,
    }));
  // A cache next to the worker: losing it costs a rebuild from the lake, never data.
  const locatorDir = join(resolve(config.state_dir), 'locators');
  return Promise.resolve({
    async committedEpoch(table) {
      const loaded = await loadTableMetadata(store, catalog, table);
      const epoch = currentSnapshot(loaded.metadata)?.summary['pgcdc.epoch'];
      return epoch === undefined ? 0 : Number(epoch);
    },
    commitEpoch: async (batch, codec) =>
      commitEpoch({ store, catalog, duckdb: await epochDuckDB(), locatorDir, log, manifest }, batch, codec),
    prepareLocator: async (table, codec) =>
      prepareLocator({ store, catalog, duckdb: await epochDuckDB(), locatorDir, log, manifest }, table, codec),

    store,
    listTableIdentifiers: () => catalog.listTables(),

    newDataFile(location, name) {
      const key = `${location}/data/${name}`;
      const localPath = store.localPath(key);
      if (!localPath)
        throw new PgCdcError('NOT_AVAILABLE', 'writing data files to object storage is not available yet');
      mkdirSync(dirname(localPath), { recursive: true });
      return Promise.resolve({
        localPath,
        commit: (written) =>
          Promise.resolve({
            path: store.uri(key),
            recordCount: written.recordCount,
            fileSizeInBytes: written.fileSizeInBytes,
          }),
      });
    },

    prepareWrites() {
      snapshotWriters().catch(() => undefined);
      prepareStreamWrites();
    },

    async writeParquet(rows, request) {
      // One connection per write: a DuckDB connection runs one statement at a time, the instance many.
      const connection = await (await snapshotWriters()).instance.connect();
      try {
        return await writeParquetFromStream(connection, rows, request);
      } finally {
        connection.closeSync();
      }
    },

    async deleteSnapshotFiles(namePrefix) {
      const keys = (await store.list('')).filter(
        (key) => key.split('/').at(-1)?.startsWith(namePrefix) && key.includes('/data/'),
      );
      await Promise.all(keys.map((key) => store.delete(key)));
      return keys.length;
    },

    async commitBase(commit) {
      try {
        await createTable(store, catalog, {
          identifier: commit.identifier,
          location: commit.location,
          schema: commit.schema,
          properties: { 'pgcdc.source-table': commit.identifier, 'pgcdc.slot': commit.slot },
        });
      } catch (error) {
        if (!(error instanceof TableExistsError)) throw error;
      }
      const result = await appendFiles(store, catalog, commit.identifier, {
        dataFiles: commit.files,
        snapshotId: baseSnapshotId(commit.identifier, commit.lsn),
        summary: { 'pgcdc.kind': 'snapshot', 'pgcdc.lsn': commit.lsn, 'pgcdc.slot': commit.slot, 'pgcdc.epoch': '0' },
      });
      const snapshotId = String(result.snapshot['snapshot-id']);
      const table = await loadTableMetadata(store, catalog, commit.identifier);
      await manifest.update((current) => {
        const base =
          current ?? emptyManifest({ ...commit.source, slot: commit.slot, consistent_point_lsn: commit.lsn });
        return {
          ...base,
          source: { ...base.source, slot: commit.slot, consistent_point_lsn: commit.lsn },
          tables: {
            ...base.tables,
            [commit.identifier]: {
              state: {
                metadata_location: table.metadataLocation,
                snapshot_id: snapshotId,
                schema_id: commit.schema['schema-id'],
              },
              columns: commit.schema.fields.map((field) => field.name),
              primary_key: [...commit.primaryKey],
              row_count: commit.files.reduce((sum, file) => sum + file.recordCount, 0),
              epoch: 0,
              committed_lsn: commit.lsn,
              schema_version: commit.schema['schema-id'],
            },
          },
        };
      });
      log.info(
        { table: commit.identifier, snapshotId, files: commit.files.length, committed: result.committed },
        'base snapshot committed',
      );
      return snapshotId;
    },
  });
}
