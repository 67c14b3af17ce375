import { PgCdcError } from '../core/errors/index.js';
import type { IcebergSchema } from '../core/types/iceberg.js';
import { uniqueParquetNames } from '../core/types/plan.js';
import type { LiveFile, SnapshotFiles } from './reader.js';
import { duckdbType } from './state/keys.js';

/**
 * The live rows of an Iceberg snapshot as one DuckDB relation: its data files, minus the rows its position-delete
 * files name. The SQL holds only string literals (no parameters), so it can stand inside a view. Readers pick
 * columns by Parquet name from alias `d`; `d.filename` and `d.file_row_number` are there too, for writers that
 * need each row's position.
 *
 * Files are read by field id, not by name (read_parquet's `schema` map): every column is named and typed as the
 * snapshot's schema says, so a renamed column shows its values from files written before the rename, a column
 * dropped and added again (a new field id) reads as NULL in files older than it, and a promoted type (int → long)
 * is cast. Columns are named as the schema names them, made unique the way the writers make Parquet names
 * (`scanColumnNames`).
 *
 * A position delete applies to a data file when the delete's sequence number is at least the data file's; pg-cdc
 * only ever writes deletes that point at files committed earlier, so every delete file in a snapshot applies.
 */
export class UnreadableFileError extends PgCdcError {
  constructor(table: string, file: LiveFile) {
    super('LAKE_FILE_NOT_LOCAL', `a file of ${table} is not on this machine: ${file.path}`, {
      context: { table, file: file.path },
      hint: 'the manifest names a file outside the lake (its storage location changed?)',
    });
  }
}

export class EqualityDeletesError extends PgCdcError {
  constructor(table: string, count: number) {
    super('EQUALITY_DELETES', `${table} has ${count} equality-delete file(s), which pg-cdc does not read`, {
      context: { table },
      hint: 'pg-cdc writes position deletes only; compact the table with the engine that wrote these',
    });
  }
}

const literal = (text: string): string => `'${text.replace(/'/g, "''")}'`;
const list = (items: readonly string[]): string => `[${items.map(literal).join(', ')}]`;

function localPathOf(table: string, file: LiveFile): string {
  if (file.localPath === undefined) throw new UnreadableFileError(table, file);
  return file.localPath;
}

export interface ScanOptions {
  /** Select list over alias `d`; default `d.*` (which includes filename and file_row_number). */
  readonly select?: string;
}

/** The name each top-level field of `schema` has in a scan (and in the Parquet files pg-cdc writes), by field id. */
export function scanColumnNames(schema: Pick<IcebergSchema, 'fields'>): Map<number, string> {
  const names = uniqueParquetNames(schema.fields.map((f) => f.name));
  return new Map(schema.fields.map((f, i) => [f.id, names[i]!]));
}

/** read_parquet's `schema` argument: each field id of `schema` as its scan name and DuckDB type. */
export function fieldIdSchemaSql(schema: Pick<IcebergSchema, 'fields'>): string {
  const names = scanColumnNames(schema);
  const entries = schema.fields.map(
    (f) => `${f.id}: {name: ${literal(names.get(f.id)!)}, type: ${literal(duckdbType(f.type))}, default_value: NULL}`,
  );
  return `MAP {${entries.join(', ')}}`;
}

/**
 * `SELECT <select> FROM <live rows of files>`; undefined when the snapshot has no data file (an empty table has no
 * Parquet schema to read, so the caller decides what an empty relation of its columns looks like).
 */
export function liveRowsSql(files: SnapshotFiles, options: ScanOptions = {}): string | undefined {
  if (files.dataFiles.length === 0) return undefined;
  const equality = files.deleteFiles.filter((file) => file.content === 2);
  if (equality.length > 0) throw new EqualityDeletesError(files.identifier, equality.length);
  const data = files.dataFiles.map((file) => localPathOf(files.identifier, file));
  const select = options.select ?? 'd.*';
  const source =
    `read_parquet(${list(data)}, filename = true, file_row_number = true, ` +
    `schema = ${fieldIdSchemaSql(files.schema)})`;
  if (files.deleteFiles.length === 0) return `SELECT ${select} FROM ${source} AS d`;

  // Delete files name data files by their location as written in the manifest; DuckDB reports the local path it
  // opened. The pairs below translate, so a store's URI scheme never has to be parsed here.
  const deletes = files.deleteFiles.map((file) => localPathOf(files.identifier, file));
  const pairs = files.dataFiles.map((file, index) => `(${literal(file.path)}, ${literal(data[index]!)})`).join(', ');
  return (
    `SELECT ${select} FROM ${source} AS d ANTI JOIN (` +
    `SELECT m.local_path, x.pos FROM read_parquet(${list(deletes)}) AS x ` +
    `JOIN (VALUES ${pairs}) AS m(location, local_path) ON m.location = x.file_path` +
    `) AS deleted ON deleted.local_path = d.filename AND deleted.pos = d.file_row_number`
  );
}
