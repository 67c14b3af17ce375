import type { IcebergField, IcebergSchema, IcebergType } from '../../core/types/iceberg.js';
import type { ChangeCodec, ChangeColumn } from './types.js';
import { quoteIdentifier, quoteString } from './duck.js';
import { fieldIdsEntry } from './state-sql.js';

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

const META_FIELDS: readonly IcebergField[] = [
  { id: 1, name: '_op', required: true, type: 'string', doc: 'insert, update, delete or truncate' },
  { id: 2, name: '_commit_lsn', required: true, type: 'long', doc: "the transaction's commit LSN as a 64-bit number" },
  { id: 3, name: '_commit_ts', required: true, type: 'timestamptz', doc: "the transaction's commit time" },
  { id: 4, name: '_xid', required: true, type: 'long', doc: 'the source transaction id' },
  { id: 5, name: '_seq', required: true, type: 'long', doc: 'position of the change within its transaction' },
  {
    id: 6,
    name: '_unchanged_toast',
    required: false,
    type: { type: 'list', 'element-id': UNCHANGED_TOAST_ELEMENT_ID, element: 'string', 'element-required': true },
    doc: 'columns whose value was not sent (unchanged TOAST): the row holds NULL for them here',
  },
];

const META_NAMES = new Set(META_FIELDS.map((f) => f.name.toLowerCase()));

/** A row column named like a metadata column gets a suffix in the changelog; ids keep the pairing. */
const rowColumnName = (name: string): string => (META_NAMES.has(name.toLowerCase()) ? `${name}__row` : name);

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
    name: rowColumnName(field.name),
    required: false,
    type: shifted(field.type),
    ...(field.doc === undefined ? {} : { doc: field.doc }),
  }));
  return { type: 'struct', 'schema-id': 0, fields: [...META_FIELDS, ...rows] };
}

export interface ChangelogCopy {
  /** Select list over the events relation `e` (see events.ts). */
  readonly select: string;
  readonly fieldIds: string;
}

/**
 * What goes into the changelog's Parquet file. Row columns carry the values as received and converted (`n<id>`),
 * not the state's reconstruction: a reader of the changelog sees exactly what the source sent.
 */
export function changelogCopy(stateSchema: IcebergSchema, codec: ChangeCodec): ChangelogCopy {
  const names = new Map(stateSchema.fields.map((f) => [f.id, f.name]));
  const parquetName = (column: ChangeColumn): string => rowColumnName(column.name);
  const toastNames = codec.columns
    .map((c) => `WHEN ${c.fieldId} THEN ${quoteString(names.get(c.fieldId) ?? c.name)}`)
    .join(' ');
  const select = [
    "CASE e.op WHEN 'I' THEN 'insert' WHEN 'U' THEN 'update' WHEN 'D' THEN 'delete' ELSE 'truncate' END AS _op",
    'e.lsn AS _commit_lsn',
    'e.ts AS _commit_ts',
    'e.xid AS _xid',
    'e.seq AS _seq',
    `CASE WHEN len(e.unchanged) = 0 THEN NULL ELSE list_transform(e.unchanged, lambda f: CASE f ${toastNames} ` +
      'ELSE CAST(f AS VARCHAR) END) END AS _unchanged_toast',
    ...codec.columns.map((c) => `e.n${c.fieldId} AS ${quoteIdentifier(parquetName(c))}`),
  ].join(', ');
  const fieldIds = [
    '_op: 1',
    '_commit_lsn: 2',
    '_commit_ts: 3',
    '_xid: 4',
    '_seq: 5',
    `_unchanged_toast: {__duckdb_field_id: 6, element: ${UNCHANGED_TOAST_ELEMENT_ID}}`,
    ...codec.columns.map((c) => `${quoteString(parquetName(c))}: ${fieldIdsEntry(c, CHANGELOG_ID_OFFSET)}`),
  ].join(', ');
  return { select, fieldIds: `{${fieldIds}}` };
}
