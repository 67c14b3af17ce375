import type { IcebergSchema } from '../../core/types/iceberg.js';
import { fieldIdSchemaSql, scanColumnNames } from '../scan.js';
import { quoteIdentifier, quoteString } from './duck.js';
import type { ChangeCodec, ChangeColumn } from './types.js';

/**
 * The SQL that turns the resolved epoch into state-table Parquet. Inputs are the temp tables of the epoch:
 * `ev` (events.ts), `written` (ord of each change whose row is written), `toast_src` (ord, field, src_ord |
 * src_iid: where an unchanged TOAST value comes from) and `lake_vals` (iid, v<field>: values read from the lake).
 */

/** Iceberg field ids of position-delete files (spec: "Position Delete Files"). */
export const POSITION_DELETE_FIELD_IDS = '{file_path: 2147483546, pos: 2147483545}';

/** A column's entry in a FIELD_IDS literal, its ids shifted by `offset` (the changelog's +6). */
export function fieldIdsEntry(column: ChangeColumn, offset = 0): string {
  const ids = column.duckdbFieldIds;
  if (typeof ids === 'number') return String(ids + offset);
  return `{__duckdb_field_id: ${ids.__duckdb_field_id + offset}, element: ${ids.element + offset}}`;
}

/** FIELD_IDS of the state table's data files, keyed by the columns' Parquet names. */
export function stateFieldIds(codec: ChangeCodec): string {
  return `{${codec.columns.map((c) => `${quoteString(c.name)}: ${fieldIdsEntry(c)}`).join(', ')}}`;
}

/**
 * The values of the lake rows that TOAST values come from, read by (file, position): only those columns, each by
 * its field id (files written before a rename name it otherwise).
 */
export function lakeValuesSql(schema: IcebergSchema, fields: readonly number[], localPaths: readonly string[]): string {
  const names = scanColumnNames(schema);
  const columns = fields.map((id) => `p.${quoteIdentifier(names.get(id)!)} AS v${id}`);
  const files = localPaths.map(quoteString).join(', ');
  return (
    `SELECT n.iid, ${columns.join(', ')} FROM read_parquet([${files}], filename = true, file_row_number = true, ` +
    `schema = ${fieldIdSchemaSql(schema)}) AS p ` +
    'JOIN lake_need AS n ON n.local_path = p.filename AND n.pos = p.file_row_number'
  );
}

/** An empty lake_vals with the events' column types, when no TOAST value comes from the lake. */
export function emptyLakeValuesSql(fields: readonly number[]): string {
  return `SELECT CAST(NULL AS INTEGER) AS iid${fields.map((id) => `, n${id} AS v${id}`).join('')} FROM ev WHERE false`;
}

/** The rows of the epoch's data file, in change order (so the file is the same whoever writes it). */
export function stateRowsSql(codec: ChangeCodec, toastFields: readonly number[]): string {
  if (codec.identityKind === 'full-row') {
    const select = codec.columns.map((c) => `e.s${c.fieldId} AS ${quoteIdentifier(c.name)}`);
    return `SELECT ${select.join(', ')} FROM ev AS e JOIN written AS w ON w.ord = e.ord ORDER BY e.ord`;
  }
  const toast = new Set(toastFields);
  const select = codec.columns.map((c) => {
    const id = c.fieldId;
    const value = toast.has(id)
      ? `CASE WHEN list_contains(e.unchanged, ${id}) THEN f${id}.v ELSE e.n${id} END`
      : `e.n${id}`;
    return `${value} AS ${quoteIdentifier(c.name)}`;
  });
  const joins = [...toast].map(
    (id) =>
      `LEFT JOIN (SELECT t.ord, s.n${id} AS v FROM toast_src AS t JOIN ev AS s ON s.ord = t.src_ord WHERE t.field = ${id} ` +
      `UNION ALL SELECT t.ord, l.v${id} FROM toast_src AS t JOIN lake_vals AS l ON l.iid = t.src_iid ` +
      `WHERE t.field = ${id}) AS f${id} ON f${id}.ord = e.ord`,
  );
  return `SELECT ${select.join(', ')} FROM ev AS e JOIN written AS w ON w.ord = e.ord ${joins.join(' ')} ORDER BY e.ord`;
}

/** Locator keys and positions of a data file just written, read from the file itself. */
export function writtenKeysSql(keyOverRow: string, localPath: string): string {
  return `SELECT ${keyOverRow} AS key, file_row_number AS pos FROM read_parquet(${quoteString(localPath)}, file_row_number = true) AS d`;
}
