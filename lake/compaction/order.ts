import { PgCdcError } from '../../core/errors/index.js';
import type { IcebergField, IcebergSchema, IcebergType } from '../../core/types/iceberg.js';
import type { SnapshotFiles } from '../reader.js';
import { liveRowsSql } from '../scan.js';
import { quoteIdentifier, quoteString } from '../state/duck.js';

/**
 * The order of a compacted table, as SQL: every live row of the base snapshot numbered `__rn` from 0, ordered by
 * the table's identifier fields (its primary key, so the rewritten files are clustered by key and the locator files
 * them as runs), then by the row's file (by location) and position. The numbering is a pure function of the base
 * snapshot: the rewrite writes rows `[k·rowsPerFile, (k+1)·rowsPerFile)` into its k-th file, and the commit
 * computes the same numbers again to move deletes made meanwhile from an old (file, position) to the new one.
 */
export const ROW_NUMBER = '__rn';

export class CompactionInputError extends PgCdcError {
  constructor(table: string, message: string) {
    super('COMPACTION_INPUT', `${table}: ${message}`, {
      context: { table },
      hint: 'compaction rewrites pg-cdc state and changelog tables; check the table and its snapshot',
    });
  }
}

/** Data files in location order: the file index of the numbering. */
export function orderedDataFiles(files: SnapshotFiles): SnapshotFiles {
  const dataFiles = [...files.dataFiles].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { ...files, dataFiles };
}

interface LiveOrder {
  /** The live rows of the base, with `filename` and `file_row_number`. */
  readonly live: string;
  /** The base's data file locations and the index of a row's file among them, as SQL. */
  readonly locations: string;
  readonly index: string;
  /** The numbering's ORDER BY list. */
  readonly order: string;
}

/** What the numbering and the ordered copy share; undefined for a base without data files. */
function liveOrder(
  base: SnapshotFiles,
  columns: readonly string[],
  keys: readonly string[],
  where: string | undefined,
): LiveOrder | undefined {
  const files = orderedDataFiles(base);
  const locals = files.dataFiles.map((file) => file.localPath ?? '');
  // Only the columns needed are read, unless a filter may name any of them.
  const read = new Set([...columns, ...keys]);
  const select = [...[...read].map((c) => `d.${quoteIdentifier(c)}`), 'd.filename', 'd.file_row_number'].join(', ');
  const live = liveRowsSql(files, where === undefined ? { select } : {});
  if (live === undefined) return undefined;
  const index = `list_position([${locals.map(quoteString).join(', ')}], filename)`;
  const order = [...keys.map(quoteIdentifier), index, 'file_row_number'].join(', ');
  const locations = `[${files.dataFiles.map((file) => quoteString(file.path)).join(', ')}]`;
  return { live: where === undefined ? live : `SELECT * FROM (${live}) WHERE ${where}`, locations, index, order };
}

/**
 * `SELECT <columns>, location, pos, __rn FROM <live rows of the base>`; undefined for a base without data files.
 * `columns` are selected by Parquet name from the live rows; `keys` order them first; rows that fail `where` (a
 * predicate over the columns) are left out before they are numbered.
 */
export function numberedRowsSql(
  base: SnapshotFiles,
  columns: readonly string[],
  keys: readonly string[],
  where?: string,
): string | undefined {
  const rows = liveOrder(base, columns, keys, where);
  if (rows === undefined) return undefined;
  const selected = columns.map((column) => `${quoteIdentifier(column)}, `).join('');
  return (
    `SELECT ${selected}${rows.locations}[${rows.index}] AS location, ` +
    `file_row_number AS pos, row_number() OVER (ORDER BY ${rows.order}) - 1 AS ${ROW_NUMBER} FROM (${rows.live})`
  );
}

/**
 * `SELECT <columns> FROM <live rows of the base>` in the numbering's order, without the numbers: row `n` of the
 * result is the row numbered `n`. For a rewrite into one file, which needs one sort where numbering then copying
 * needs two.
 */
export function orderedRowsSql(
  base: SnapshotFiles,
  columns: readonly string[],
  keys: readonly string[],
  where?: string,
): string | undefined {
  const rows = liveOrder(base, columns, keys, where);
  if (rows === undefined) return undefined;
  return `SELECT ${columns.map(quoteIdentifier).join(', ')} FROM (${rows.live}) ORDER BY ${rows.order}`;
}

/** The names of a schema's identifier fields (the primary key), in schema order. */
export function identifierColumns(schema: IcebergSchema): string[] {
  const ids = new Set(schema['identifier-field-ids'] ?? []);
  return schema.fields.filter((field) => ids.has(field.id)).map((field) => field.name);
}

/** DuckDB's FIELD_IDS literal for a schema's columns: nested ids for lists and structs. */
export function fieldIdsOf(schema: IcebergSchema): string {
  const entry = (id: number, type: IcebergType): string => {
    if (typeof type === 'string') return String(id);
    if (type.type === 'list') return `{__duckdb_field_id: ${id}, element: ${entry(type['element-id'], type.element)}}`;
    return `{__duckdb_field_id: ${id}, ${fieldsOf(type.fields)}}`;
  };
  const fieldsOf = (fields: readonly IcebergField[]): string =>
    fields.map((field) => `${quoteString(field.name)}: ${entry(field.id, field.type)}`).join(', ');
  return `{${fieldsOf(schema.fields)}}`;
}
