import type { DuckDBInstance } from '@duckdb/node-api';
import type { Catalog } from '../catalog/index.js';
import { currentSchema } from '../iceberg/metadata.js';
import type { DataFile } from '../iceberg/table.js';
import { loadTableMetadata } from '../iceberg/table.js';
import { snapshotFiles, type SnapshotFiles } from '../reader.js';
import type { ObjectStore } from '../storage/index.js';
import { joinKey } from '../storage/keys.js';
import { copyToLake, quoteIdentifier } from '../state/duck.js';
import {
  CompactionInputError,
  fieldIdsOf,
  identifierColumns,
  numberedRowsSql,
  orderedRowsSql,
  ROW_NUMBER,
} from './order.js';

/**
 * The heavy half of a compaction: the live rows of a table's current snapshot (data files minus position deletes)
 * written again into files of about `targetFileSizeBytes`, in the order of order.ts. Nothing is committed: the
 * files are new and unreferenced until commit.ts swaps them in, so this runs beside the table's epochs, on any
 * worker that reaches the lake, and a retry simply writes the same files again (their names derive from the base).
 */
export interface RewriteContext {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  readonly duckdb: DuckDBInstance;
}

export interface RewriteOptions {
  readonly targetFileSizeBytes: number;
  /** Columns the new files are ordered by; default the table's identifier fields (its primary key). */
  readonly order?: readonly string[];
  /** Rows to keep, as a predicate over the columns (the changelog's retention); default all. */
  readonly where?: string;
  /** Called after each file written: the activity heartbeats with it. */
  readonly onFile?: (written: number, planned: number) => void;
}

export interface TableRewrite {
  readonly table: string;
  /** The snapshot whose rows were rewritten (text: it crosses the Temporal boundary). */
  readonly baseSnapshotId: string;
  readonly rowsPerFile: number;
  /** The numbering's order and filter (order.ts), for the commit to number the base the same way. */
  readonly order: readonly string[];
  readonly where?: string;
  /** The new files, in numbering order: row `n` is at position `n % rowsPerFile` of file `n / rowsPerFile`. */
  readonly files: readonly DataFile[];
  /** Locations of the base's data and delete files: what the commit removes. */
  readonly replaced: readonly string[];
  readonly rows: number;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
}

/** Rows per file, from the base's bytes per row: Parquet's compression makes bytes per row the best guess. */
export function rowsPerFileFor(base: SnapshotFiles, targetFileSizeBytes: number): number {
  const rows = base.dataFiles.reduce((n, f) => n + f.recordCount, 0);
  const bytes = base.dataFiles.reduce((n, f) => n + f.fileSizeInBytes, 0);
  if (rows === 0 || bytes === 0) return 1_000_000;
  return Math.max(1, Math.floor(targetFileSizeBytes / (bytes / rows)));
}

/** File k of a rewrite of `baseSnapshotId`: a name that a retry of the same rewrite writes again. */
export function rewrittenFileKey(tableLocation: string, baseSnapshotId: string, index: number): string {
  return joinKey(tableLocation, 'data', `compacted-${baseSnapshotId}-${String(index).padStart(5, '0')}.parquet`);
}

export async function rewriteTable(
  ctx: RewriteContext,
  identifier: string,
  options: RewriteOptions,
): Promise<TableRewrite | undefined> {
  const table = await loadTableMetadata(ctx.store, ctx.catalog, identifier);
  const base = await snapshotFiles(ctx.store, identifier, table.metadata);
  if (!base.snapshot) return undefined;
  const schema = currentSchema(table.metadata);
  if (base.schema['schema-id'] !== schema['schema-id']) {
    throw new CompactionInputError(identifier, 'the current snapshot was written with an older schema');
  }
  const columns = schema.fields.map((field) => field.name);
  const baseSnapshotId = String(base.snapshot['snapshot-id']);
  const rowsPerFile = rowsPerFileFor(base, options.targetFileSizeBytes);
  const replaced = [...base.dataFiles, ...base.deleteFiles].map((file) => file.path);
  const bytesBefore = [...base.dataFiles, ...base.deleteFiles].reduce((n, f) => n + f.fileSizeInBytes, 0);
  const order = options.order ?? identifierColumns(schema);
  const numbering = { order, ...(options.where === undefined ? {} : { where: options.where }) };
  const empty = { table: identifier, baseSnapshotId, rowsPerFile, ...numbering, files: [], replaced, bytesBefore };
  const fieldIds = fieldIdsOf(schema);
  // The base holds no more rows than one file takes: its live rows are copied in order, one sort and one pass,
  // as fast as DuckDB writing them anywhere. Larger bases are numbered once into a temporary table and cut.
  if (base.dataFiles.reduce((n, f) => n + f.recordCount, 0) <= rowsPerFile) {
    const ordered = orderedRowsSql(base, columns, order, options.where);
    if (ordered === undefined) return { ...empty, rows: 0, bytesAfter: 0 };
    const file = await copyOne(ctx, rewrittenFileKey(table.location, baseSnapshotId, 0), ordered, fieldIds);
    options.onFile?.(1, 1);
    if (file === undefined) return { ...empty, rows: 0, bytesAfter: 0 };
    return { ...empty, files: [file], rows: file.recordCount, bytesAfter: file.fileSizeInBytes };
  }
  const numbered = numberedRowsSql(base, columns, order, options.where);
  if (numbered === undefined) return { ...empty, rows: 0, bytesAfter: 0 };

  const connection = await ctx.duckdb.connect();
  try {
    await connection.run(`CREATE OR REPLACE TEMP TABLE compacted AS ${numbered}`);
    const count = await connection.runAndReadAll('SELECT count(*)::BIGINT FROM compacted');
    const rows = Number(count.getRows()[0]![0]);
    const planned = Math.ceil(rows / rowsPerFile);
    const select = columns.map(quoteIdentifier).join(', ');
    const files: DataFile[] = [];
    for (let index = 0; index < planned; index++) {
      const from = index * rowsPerFile;
      const query =
        `SELECT ${select} FROM compacted WHERE ${ROW_NUMBER} >= ${from} AND ${ROW_NUMBER} < ${from + rowsPerFile} ` +
        `ORDER BY ${ROW_NUMBER}`;
      const key = rewrittenFileKey(table.location, baseSnapshotId, index);
      const { localPath: _local, ...file } = await copyToLake(connection, ctx.store, key, query, fieldIds);
      files.push(file);
      options.onFile?.(index + 1, planned);
    }
    const bytesAfter = files.reduce((n, f) => n + f.fileSizeInBytes, 0);
    return { ...empty, files, rows, bytesAfter };
  } finally {
    // The temp table goes with the connection.
    connection.closeSync();
  }
}

/** The rows of `query` as the file at `key`; undefined (and no file) when there are none. */
async function copyOne(
  ctx: RewriteContext,
  key: string,
  query: string,
  fieldIds: string,
): Promise<DataFile | undefined> {
  const connection = await ctx.duckdb.connect();
  try {
    const { localPath: _local, ...file } = await copyToLake(connection, ctx.store, key, query, fieldIds);
    if (file.recordCount > 0) return file;
    await ctx.store.delete(key);
    return undefined;
  } finally {
    connection.closeSync();
  }
}
