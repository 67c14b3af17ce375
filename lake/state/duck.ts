import { rmSync, statSync } from 'node:fs';
import { BIGINT, DuckDBDataChunk, INTEGER, VARCHAR, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { timeStage } from '../../core/metrics/index.js';
import type { DataFile } from '../iceberg/table.js';
import type { ObjectStore } from '../storage/index.js';

/** Small DuckDB helpers of the epoch writer: temp tables filled from JS, and Parquet files written into the lake. */
export const quoteIdentifier = (name: string): string => `"${name.replace(/"/g, '""')}"`;
export const quoteString = (text: string): string => `'${text.replace(/'/g, "''")}'`;

type ColumnType = 'INTEGER' | 'BIGINT' | 'VARCHAR';
type Cell = number | bigint | string | undefined;

/** Rows per appended chunk: DuckDB's vector size. */
const CHUNK_ROWS = 2048;
const DUCKDB_TYPES = { INTEGER, BIGINT, VARCHAR } as const;

/**
 * Creates (or replaces) temp table `name` and appends `rows` to it through DuckDB's appender, a column chunk at a
 * time: a call per value cost several times as much for the hundred thousand rows of an epoch of updates.
 */
export async function tempTable(
  connection: DuckDBConnection,
  name: string,
  columns: Readonly<Record<string, ColumnType>>,
  rows: Iterable<readonly Cell[]>,
): Promise<void> {
  const types = Object.values(columns);
  const spec = Object.entries(columns).map(([column, type]) => `${quoteIdentifier(column)} ${type}`);
  await connection.run(`CREATE OR REPLACE TEMP TABLE ${quoteIdentifier(name)} (${spec.join(', ')})`);
  const appender = await connection.createAppender(name, 'main', 'temp');
  const convert = types.map((type) => {
    if (type === 'INTEGER') return (value: Cell): DuckDBValue => (value === undefined ? null : Number(value));
    if (type === 'BIGINT') return (value: Cell): DuckDBValue => (value === undefined ? null : BigInt(value));
    return (value: Cell): DuckDBValue => (value === undefined ? null : String(value));
  });
  const chunkTypes = types.map((type) => DUCKDB_TYPES[type]);
  const buffered = types.map(() => new Array<DuckDBValue>());
  const flush = (): void => {
    const count = buffered[0]!.length;
    if (count === 0) return;
    const chunk = DuckDBDataChunk.create(chunkTypes, count);
    buffered.forEach((values, index) => chunk.setColumnValues(index, values));
    appender.appendDataChunk(chunk);
    for (const values of buffered) values.length = 0;
  };
  try {
    for (const row of rows) {
      for (let index = 0; index < types.length; index++) buffered[index]!.push(convert[index]!(row[index]));
      if (buffered[0]!.length === CHUNK_ROWS) flush();
    }
    flush();
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
}

export interface LakeParquet extends DataFile {
  /** Where DuckDB reads it back (`store.readPath`). */
  readonly localPath: string;
}

/**
 * `COPY (<query>) TO <the file of key>` as zstd Parquet with Iceberg field ids, written where the store stages it
 * (in place on a filesystem, where a crashed attempt's file is simply overwritten by the retry, as nothing
 * references it before the commit) and then published (uploaded, on S3: written once).
 */
export async function copyToLake(
  connection: DuckDBConnection,
  store: ObjectStore,
  key: string,
  query: string,
  fieldIds: string,
  content: 0 | 1 = 0,
): Promise<LakeParquet> {
  const staged = await store.stagingPath(key);
  let recordCount: number;
  let size: number;
  try {
    const reader = await timeStage('parquet_write', () =>
      connection.runAndReadAll(
        `COPY (${query}) TO ${quoteString(staged)} (FORMAT parquet, COMPRESSION zstd, FIELD_IDS ${fieldIds})`,
      ),
    );
    recordCount = Number(reader.getRows()[0]?.[0] ?? 0);
    size = statSync(staged).size;
  } catch (error) {
    // A staging copy (object storage) goes; a file written in place is left for the retry to overwrite.
    if (store.localPath(key) === undefined) rmSync(staged, { force: true });
    throw error;
  }
  await store.publishStaged(key, staged);
  const localPath = store.readPath(key);
  return { path: store.uri(key), recordCount, fileSizeInBytes: size, localPath, ...(content ? { content } : {}) };
}
