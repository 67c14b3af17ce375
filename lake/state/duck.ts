import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { NotAvailableError } from '../errors.js';
import type { DataFile } from '../iceberg/table.js';
import type { ObjectStore } from '../storage/index.js';

/** Small DuckDB helpers of the epoch writer: temp tables filled from JS, and Parquet files written into the lake. */
export const quoteIdentifier = (name: string): string => `"${name.replace(/"/g, '""')}"`;
export const quoteString = (text: string): string => `'${text.replace(/'/g, "''")}'`;

type ColumnType = 'INTEGER' | 'BIGINT' | 'VARCHAR';
type Cell = number | bigint | string | undefined;

/** Creates (or replaces) temp table `name` and appends `rows` to it through DuckDB's appender. */
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
  try {
    for (const row of rows) {
      types.forEach((type, index) => {
        const value = row[index];
        if (value === undefined) appender.appendNull();
        else if (type === 'INTEGER') appender.appendInteger(Number(value));
        else if (type === 'BIGINT') appender.appendBigInt(BigInt(value));
        else appender.appendVarchar(String(value));
      });
      appender.endRow();
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
}

export interface LakeParquet extends DataFile {
  /** Where DuckDB wrote it, for reading it back. */
  readonly localPath: string;
}

/**
 * `COPY (<query>) TO <the file of key>` as zstd Parquet with Iceberg field ids. The file is written in place: a
 * crashed attempt's file is simply overwritten by the retry, as nothing references it before the commit.
 */
export async function copyToLake(
  connection: DuckDBConnection,
  store: ObjectStore,
  key: string,
  query: string,
  fieldIds: string,
  content: 0 | 1 = 0,
): Promise<LakeParquet> {
  const localPath = store.localPath(key);
  if (localPath === undefined) {
    throw new NotAvailableError('committing epochs to object storage is not available yet', {
      hint: 'use storage.type: filesystem for now',
      context: { key },
    });
  }
  mkdirSync(dirname(localPath), { recursive: true });
  const reader = await connection.runAndReadAll(
    `COPY (${query}) TO ${quoteString(localPath)} (FORMAT parquet, COMPRESSION zstd, FIELD_IDS ${fieldIds})`,
  );
  const recordCount = Number(reader.getRows()[0]?.[0] ?? 0);
  const size = statSync(localPath).size;
  return { path: store.uri(key), recordCount, fileSizeInBytes: size, localPath, ...(content ? { content } : {}) };
}
