import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import type { DuckDBInstance } from '@duckdb/node-api';
import { memoryBudget, parseDuration, type PgCdcConfig } from '../core/config/index.js';
import { PgCdcError } from '../core/errors/index.js';
import type { Logger } from '../core/log/index.js';
import type { RewriteContext } from '../lake/compaction/rewrite.js';
import type { ManifestStore } from '../lake/manifest.js';
import { headSnapshot } from '../lake/iceberg/refs.js';
import { loadTableMetadata, type DataFile } from '../lake/iceberg/table.js';
import { summaryEpoch } from '../lake/contract/index.js';
import { openLake } from '../lake/open.js';
import {
  openDuckDB,
  prepareStreamWrites,
  renewStoreAccess,
  writeParquetFromStream,
  type WrittenParquet,
  type WriteParquetRequest,
} from '../lake/parquet/writer.js';
import {
  commitBase,
  commitEpoch,
  locatorRoot,
  prepareLocator,
  type BaseCommit,
  type ChangeBatch,
  type ChangeCodec,
  type EpochCommit,
} from '../lake/state/index.js';
import type { ObjectStore } from '../lake/storage/index.js';

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
  /** What compaction reads and writes with: the store, the catalog and a bounded DuckDB of its own. */
  compaction(): Promise<RewriteContext & { readonly log: Logger; readonly manifest: ManifestStore }>;
  /** Builds the table's locator now if it is not current, so its next epoch need not (see lake/state). */
  prepareLocator(table: string, codec: ChangeCodec): Promise<void>;
}

export function openLakeAccess(config: PgCdcConfig, log: Logger): Promise<LakeAccess> {
  const { store, catalog, manifest } = openLake(config);
  // Each DuckDB of the process gets its share of memory.limit_mb (core/config/memory.ts); the environment variables
  // override a share, for an experiment.
  const budget = memoryBudget(config.memory.limit_mb, config.init.parallel_workers, availableParallelism());
  const env = process.env;
  // Epoch commits share one bounded DuckDB, so the stream worker's memory stays bounded whatever an epoch holds.
  // Opened on the first epoch: a process that only snapshots never needs it.
  let epochDuck: ReturnType<typeof openDuckDB> | undefined;
  // On S3 it reads the lake through httpfs; its secret is renewed before each use, which costs a statement.
  const epochDuckDB = async (): Promise<DuckDBInstance> => {
    const instance = (
      await (epochDuck ??= openDuckDB({
        name: 'epochs',
        threads: budget.epochs.threads,
        memoryLimit: env.PGCDC_DUCKDB_MEMORY_LIMIT ?? budget.epochs.memoryLimit,
        store,
      }))
    ).instance;
    await renewStoreAccess(instance, store);
    return instance;
  };
  // Snapshot chunks get their own, opened before the first chunk: each of init.parallel_workers concurrent Parquet
  // writers holds a row group in memory, which a limit sized for epochs cannot fit (out of memory at 4 writers).
  // One thread: a chunk is one stream from a pipe, written by the thread that runs its statement, and the chunks
  // run side by side. Helper threads on top only contend with the other chunks and with PostgreSQL for the same
  // cores (a 2 M-row init on 2 cores took 50-170 ms longer, median of 8-10 runs, with DuckDB's default of 2).
  let snapshotDuck: ReturnType<typeof openDuckDB> | undefined;
  const snapshotWriters = (): ReturnType<typeof openDuckDB> =>
    (snapshotDuck ??= openDuckDB({
      name: 'snapshot',
      threads: budget.snapshot.threads,
      memoryLimit: env.PGCDC_DUCKDB_SNAPSHOT_MEMORY_LIMIT ?? budget.snapshot.memoryLimit,
    }));
  // Compaction gets its own, with one thread: its rewrite reads and sorts the whole table for seconds beside the
  // epochs, which would otherwise share its threads and memory limit, and on two cores it leaves one to the stream.
  // Like the epochs' it reads the lake, so on S3 it loads httpfs and renews its secret before each use.
  let compactionDuck: ReturnType<typeof openDuckDB> | undefined;
  const compactionDuckDB = async (): Promise<DuckDBInstance> => {
    const instance = (
      await (compactionDuck ??= openDuckDB({
        name: 'compaction',
        threads: budget.compaction.threads,
        memoryLimit: env.PGCDC_DUCKDB_COMPACTION_MEMORY_LIMIT ?? budget.compaction.memoryLimit,
        store,
      }))
    ).instance;
    await renewStoreAccess(instance, store);
    return instance;
  };
  // A cache next to the worker: losing it costs a rebuild from the lake, never data.
  const locatorDir = locatorRoot(config.state_dir);
  const rawTags = {
    keep: config.promotion.raw_tags.keep,
    maxAgeMs: parseDuration(config.promotion.raw_tags.max_age),
  };
  return Promise.resolve({
    async committedEpoch(table) {
      const loaded = await loadTableMetadata(store, catalog, table);
      return summaryEpoch(headSnapshot(loaded.metadata)?.summary) ?? 0;
    },
    commitEpoch: async (batch, codec) =>
      commitEpoch({ store, catalog, duckdb: await epochDuckDB(), locatorDir, log, manifest, rawTags }, batch, codec),
    compaction: async () => ({ store, catalog, manifest, duckdb: await compactionDuckDB(), log }),
    prepareLocator: async (table, codec) =>
      prepareLocator({ store, catalog, duckdb: await epochDuckDB(), locatorDir, log, manifest }, table, codec),

    store,
    listTableIdentifiers: () => catalog.listTables(),

    async newDataFile(location, name) {
      const key = `${location}/data/${name}`;
      const localPath = await store.stagingPath(key);
      return {
        localPath,
        async commit(written) {
          await store.publishStaged(key, localPath);
          return { path: store.uri(key), recordCount: written.recordCount, fileSizeInBytes: written.fileSizeInBytes };
        },
      };
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

    commitBase: (commit) => commitBase({ store, catalog, manifest, log }, commit),
  });
}
