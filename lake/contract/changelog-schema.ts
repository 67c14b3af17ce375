import type { IcebergField, IcebergSchema, IcebergType } from '../../core/types/iceberg.js';

/**
 * The changelog table `<schema>.<table>__changes`: one row per change as received, in commit order. Six metadata
 * columns come first with field ids 1..6; each row column keeps its state field id plus 6 (list element ids too),
 * so a state column and its changelog column are paired by id through any rename. Every row column is optional:
 * a delete carries only what the server sent of the old row, and a truncate carries no row at all.
 */
export const CHANGELOG_ID_OFFSET = 6;

/**
 * The element id of `_unchanged_toast`. It sits far above any column id so that columns added to the state table
 * later (state id + 6) can never collide with it.
 */
export const UNCHANGED_TOAST_ELEMENT_ID = 1_000_000_000;

/** Names the source columns whose value a change did not carry: the one metadata column that names columns. */
export const UNCHANGED_TOAST_COLUMN = '_unchanged_toast';

/** The metadata columns that order and date the changes. */
export const CHANGELOG_COLUMN = {
  op: '_op',
  commitLsn: '_commit_lsn',
  commitTime: '_commit_ts',
  xid: '_xid',
  seq: '_seq',
} as const;

/** The changelog's order, the order of the source's commits: commit LSN, then position in the transaction. */
export const CHANGELOG_ORDER: readonly string[] = [CHANGELOG_COLUMN.commitLsn, CHANGELOG_COLUMN.seq];

/** The metadata columns, in table order. Every other changelog column is a row column. */
export const CHANGELOG_METADATA_FIELDS: readonly IcebergField[] = [
  { id: 1, name: CHANGELOG_COLUMN.op, required: true, type: 'string', doc: 'insert, update, delete or truncate' },
  {
    id: 2,
    name: CHANGELOG_COLUMN.commitLsn,
    required: true,
    type: 'long',
    doc: "the transaction's commit LSN as a 64-bit number",
  },
  {
    id: 3,
    name: CHANGELOG_COLUMN.commitTime,
    required: true,
    type: 'timestamptz',
    doc: "the transaction's commit time",
  },
  { id: 4, name: CHANGELOG_COLUMN.xid, required: true, type: 'long', doc: 'the source transaction id' },
  {
    id: 5,
    name: CHANGELOG_COLUMN.seq,
    required: true,
    type: 'long',
    doc: 'position of the change within its transaction',
  },
  {
    id: 6,
    name: UNCHANGED_TOAST_COLUMN,
    required: false,
    type: { type: 'list', 'element-id': UNCHANGED_TOAST_ELEMENT_ID, element: 'string', 'element-required': true },
    doc: 'columns whose value was not sent (unchanged TOAST): the row holds NULL for them here',
  },
];

/** Lower-cased: DuckDB, which writes the files, does not tell `_OP` from `_op`. */
const METADATA_NAMES: ReadonlySet<string> = new Set(CHANGELOG_METADATA_FIELDS.map((f) => f.name.toLowerCase()));
const ROW_SUFFIX = '__row';

/** A source column named like a metadata column gets a suffix in the changelog; ids keep the pairing. */
export const changelogRowColumn = (sourceColumn: string): string =>
  METADATA_NAMES.has(sourceColumn.toLowerCase()) ? `${sourceColumn}${ROW_SUFFIX}` : sourceColumn;

/** Whether `column` of a changelog is one of its metadata columns (by exact name: row columns never are). */
export const isChangelogMetadataColumn = (column: string): boolean =>
  CHANGELOG_METADATA_FIELDS.some((f) => f.name === column);

/** The source column a changelog row column holds: `changelogRowColumn` undone. */
export function sourceColumnOf(rowColumn: string): string {
  const base = rowColumn.slice(0, -ROW_SUFFIX.length);
  return rowColumn.endsWith(ROW_SUFFIX) && METADATA_NAMES.has(base.toLowerCase()) ? base : rowColumn;
}

function shifted(type: IcebergType): IcebergType {
  if (typeof type === 'string') return type;
  if (type.type === 'list') {
    return { ...type, 'element-id': type['element-id'] + CHANGELOG_ID_OFFSET, element: shifted(type.element) };
  }
  return {
    ...type,
    fields: type.fields.map((f) => ({ ...f, id: f.id + CHANGELOG_ID_OFFSET, type: shifted(f.type) })),
  };
}

/** The changelog schema of a state schema. Deterministic: the same state schema always gives the same one. */
export function changelogSchema(stateSchema: IcebergSchema): IcebergSchema {
  const rows = stateSchema.fields.map((field): IcebergField => ({
    id: field.id + CHANGELOG_ID_OFFSET,
    name: changelogRowColumn(field.name),
    required: false,
    type: shifted(field.type),
    ...(field.doc === undefined ? {} : { doc: field.doc }),
  }));
  return { type: 'struct', 'schema-id': 0, fields: [...CHANGELOG_METADATA_FIELDS, ...rows] };
}
