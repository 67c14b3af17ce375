/**
 * Parquet files written by DuckDB from CSV text: `COPY (SELECT <select> FROM read_csv(<input>)) TO <output>`.
 * This module knows CSV, DuckDB and Parquet, not the source database: callers hand it column types, a select list
 * and a FIELD_IDS literal as strings (core/types builds them for PostgreSQL tables).
 */
import { constants, existsSync, openSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { Socket } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { duckdbExtensionDir } from '../../core/cache-dir.js';
import { PgCdcError } from '../../core/errors/index.js';
import { READ_CSV_OPTIONS } from '../../core/types/index.js';
import type { ObjectStore } from '../storage/index.js';
import { discardFifo, prepareFifos, takeFifo } from './fifo.js';
import { trackDuckDB } from './memory.js';

export interface WriteParquetRequest {
  /** A CSV file or FIFO in the dialect of core/types/csv.ts (no header; NULL an unquoted empty field). */
  readonly input: string;
  /** read_csv column name → DuckDB type, in file order. */
  readonly csvColumns: Record<string, string>;
  /** DuckDB select list over the CSV columns; its aliases name the Parquet columns. */
  readonly select: string;
  /** A DuckDB FIELD_IDS struct literal keyed by the select list's aliases. */
  readonly fieldIds: string;
  readonly output: string;
  readonly rowGroupSize?: number;
  /** zstd level, 1 (fastest) to 22; default DuckDB's (3). */
  readonly zstdLevel?: number;
  /** The longest CSV record accepted, in bytes: default 64 MiB (DuckDB's own default is 2 MiB). */
  readonly maxLineSize?: number;
}

export interface WrittenParquet {
  readonly recordCount: number;
  readonly fileSizeInBytes: number;
}

/** DuckDB refused the CSV or could not write the Parquet file. */
export class ParquetWriteError extends PgCdcError {
  constructor(output: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    super('PARQUET_WRITE_FAILED', `writing ${output} failed: ${reason}`, {
      context: { output },
      hint: 'the DuckDB error names the CSV line and column (column cN holds field id N); no partial file is kept',
      cause,
    });
  }
}

// DuckDB sizes each CSV reader's buffers from max_line_size (16 GiB of buffers for a 1 GiB limit): 64 MiB keeps
// parallel chunk writers within a few hundred MiB, and a longer CSV record fails with an error naming the limit.
const DEFAULT_MAX_LINE = 64 * 1024 * 1024;
const sqlString = (text: string): string => `'${text.replace(/'/g, "''")}'`;

/** The COPY statement writeParquetFromCsv runs; exported for tests and for logging a failed write. */
export function parquetCopySql(request: WriteParquetRequest): string {
  const columns = Object.entries(request.csvColumns)
    .map(([name, type]) => `${sqlString(name)}: ${sqlString(type)}`)
    .join(', ');
  const source =
    `read_csv(${sqlString(request.input)}, ${READ_CSV_OPTIONS}, columns = {${columns}}, ` +
    `max_line_size = ${request.maxLineSize ?? DEFAULT_MAX_LINE}, buffer_size = ${request.maxLineSize ?? DEFAULT_MAX_LINE})`;
  const options = [
    'FORMAT parquet',
    'COMPRESSION zstd',
    ...(request.zstdLevel ? [`COMPRESSION_LEVEL ${request.zstdLevel}`] : []),
    ...(request.rowGroupSize ? [`ROW_GROUP_SIZE ${request.rowGroupSize}`] : []),
    `FIELD_IDS ${request.fieldIds}`,
  ];
  return `COPY (SELECT ${request.select} FROM ${source}) TO ${sqlString(request.output)} (${options.join(', ')})`;
}

/**
 * Reads the CSV and writes one zstd Parquet file. With preserve_insertion_order off (see openDuckDB) the rows in the
 * file need not be in input order: anything that records row positions must read them from the file.
 */
export async function writeParquetFromCsv(
  connection: DuckDBConnection,
  request: WriteParquetRequest,
): Promise<WrittenParquet> {
  let recordCount: number;
  try {
    const reader = await connection.runAndReadAll(parquetCopySql(request));
    recordCount = Number(reader.getRows()[0]?.[0] ?? 0);
  } catch (error) {
    await rm(request.output, { force: true });
    throw new ParquetWriteError(request.output, error);
  }
  return { recordCount, fileSizeInBytes: (await stat(request.output)).size };
}

/**
 * The FIFO's write end, opened without ever blocking a thread: a non-blocking open fails with ENXIO until a reader
 * (DuckDB) has the other end, so poll until it succeeds. A blocking open would hold one of libuv's few threadpool
 * threads until DuckDB opens the FIFO — and DuckDB's queries run on that same pool, so a handful of parallel
 * chunks would deadlock it. Opening only after the reader is there also means nothing written can be lost.
 */
async function openWriteEnd(fifo: string, gaveUp: () => boolean): Promise<Socket> {
  for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
    try {
      const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      return new Socket({ fd, readable: false, writable: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENXIO' || gaveUp()) throw error;
      await sleep(delay);
    }
  }
}

/** Make what writeParquetFromStream needs before its first call, while nothing waits on it (the pipes). */
export function prepareStreamWrites(): void {
  prepareFifos();
}

/**
 * Streams `source` into a FIFO that writeParquetFromCsv reads, so no CSV touches the disk. A failure on either side
 * fails the whole write and removes the output: a source that breaks off would otherwise look like a short,
 * successful file to DuckDB, which only sees the end of the FIFO.
 */
export async function writeParquetFromStream(
  connection: DuckDBConnection,
  source: Readable,
  request: Omit<WriteParquetRequest, 'input'>,
): Promise<WrittenParquet> {
  const fifo = await takeFifo();
  try {
    let failed = false;
    let sink: Socket | undefined;
    const writing = writeParquetFromCsv(connection, { ...request, input: fifo }).catch((error: unknown) => {
      failed = true;
      sink?.destroy();
      throw error;
    });
    const copying = (async () => {
      sink = await openWriteEnd(fifo, () => failed);
      await pipeline(source, sink);
    })();
    const [copied, written] = await Promise.allSettled([copying, writing]);
    if (copied.status === 'rejected' || written.status === 'rejected') {
      // Let the source run to its end so the connection it comes from is usable again (its COPY completes).
      if (!source.readableEnded && !source.destroyed) source.resume();
    }
    if (written.status === 'rejected') throw written.reason;
    if (copied.status === 'rejected') {
      await rm(request.output, { force: true });
      throw copied.reason;
    }
    return written.value;
  } finally {
    await discardFifo(fifo);
  }
}

export interface DuckDBOptions {
  /** What it is for (`epochs`, `compaction`, ...): its memory is reported under this name (memory.ts). */
  readonly name?: string;
  /** Default: the machine's parallelism, at most 4. */
  readonly threads?: number;
  /** DuckDB size text, e.g. '1GB'. Default: DuckDB's (80% of RAM). */
  readonly memoryLimit?: string;
  /** Where DuckDB spills; default a directory under the OS temp dir (never the working directory). */
  readonly tempDirectory?: string;
  /** When given, file access is limited to these directories (and tempDirectory) and external access is off. */
  readonly allowedDirectories?: readonly string[];
  /** The lake this DuckDB reads (and on S3, reaches through httpfs): its setup runs before the lock. */
  readonly store?: Pick<ObjectStore, 'duckdbSetup'>;
}

export interface OpenDuckDB {
  readonly instance: DuckDBInstance;
  readonly connection: DuckDBConnection;
  close(): void;
}

/**
 * An in-memory DuckDB for writing Parquet. Extensions are never downloaded or auto-loaded (the build links the
 * ones it needs), and the configuration is locked so SQL cannot change it. File access stays on unless
 * allowedDirectories is given: read_csv and COPY TO need the paths they are handed.
 */
export async function openDuckDB(options: DuckDBOptions = {}): Promise<OpenDuckDB> {
  const tempDirectory = options.tempDirectory ?? join(tmpdir(), 'pg-cdc-duckdb');
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(options.threads ?? Math.min(availableParallelism(), 4)),
    preserve_insertion_order: 'false',
    temp_directory: tempDirectory,
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    allow_community_extensions: 'false',
    ...(options.memoryLimit ? { memory_limit: options.memoryLimit } : {}),
  });
  const connection = await instance.connect();
  const untrack = trackDuckDB(instance, options.name ?? 'other');
  const close = (): void => {
    untrack();
    connection.closeSync();
    instance.closeSync();
  };
  try {
    if (options.store) await prepareForStore(connection, options.store);
    if (options.allowedDirectories) {
      const dirs = [...options.allowedDirectories, tempDirectory].map((d) => sqlString(d.endsWith('/') ? d : `${d}/`));
      await connection.run(`SET allowed_directories = [${dirs.join(', ')}]`);
      await connection.run('SET enable_external_access = false');
    }
    await connection.run('SET lock_configuration = true');
  } catch (error) {
    close();
    throw error;
  }
  return { instance, connection, close };
}

/** The statements each DuckDB last ran for its store, and the tail of its queue of renewals. */
const appliedAccess = new WeakMap<DuckDBInstance, string>();
const renewalQueue = new WeakMap<DuckDBInstance, Promise<void>>();

/**
 * Runs the store's statements again on a DuckDB that `openDuckDB({ store })` opened: its secret is made anew from
 * the credentials the provider chain gives now, so a long-lived DuckDB outlives temporary credentials. Renewals of
 * one instance run one at a time, and not at all while the statements are those it last ran: two epochs replacing
 * the same secret at once fail in DuckDB's catalog with a write-write conflict.
 */
export async function renewStoreAccess(
  instance: DuckDBInstance,
  store: Pick<ObjectStore, 'duckdbSetup'>,
): Promise<void> {
  const { statements } = await store.duckdbSetup();
  if (statements.length === 0) return;
  const wanted = statements.join(';\n');
  const renewal = (renewalQueue.get(instance) ?? Promise.resolve()).then(async () => {
    if (appliedAccess.get(instance) === wanted) return;
    const connection = await instance.connect();
    try {
      for (const statement of statements) await connection.run(statement);
    } finally {
      connection.closeSync();
    }
    appliedAccess.set(instance, wanted);
  });
  // The queue goes on after a failed renewal; the caller whose renewal failed gets its error.
  renewalQueue.set(
    instance,
    renewal.catch(() => undefined),
  );
  await renewal;
}

/**
 * Loads the extensions the store needs and runs its statements. From the extension directory setup filled when
 * there is one (offline, the build matching ours); otherwise DuckDB installs a missing extension itself.
 */
async function prepareForStore(connection: DuckDBConnection, store: Pick<ObjectStore, 'duckdbSetup'>): Promise<void> {
  const setup = await store.duckdbSetup();
  if (setup.extensions.length === 0 && setup.statements.length === 0) return;
  const dir = duckdbExtensionDir();
  if (existsSync(dir)) await connection.run(`SET extension_directory = ${sqlString(dir)}`);
  for (const extension of setup.extensions) {
    try {
      await connection.run(`LOAD ${extension}`);
    } catch {
      try {
        await connection.run(`INSTALL ${extension}`);
        await connection.run(`LOAD ${extension}`);
      } catch (error) {
        throw new PgCdcError('ENVIRONMENT', `DuckDB could not load its ${extension} extension`, {
          hint: `run \`npm run setup\` (installs it into ${dir}), or let DuckDB download it (network access to extensions.duckdb.org)`,
          context: { extension, directory: dir },
          cause: error,
        });
      }
    }
  }
  for (const statement of setup.statements) await connection.run(statement);
}
