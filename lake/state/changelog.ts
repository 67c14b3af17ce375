import {
  CHANGELOG_ID_OFFSET,
  CHANGELOG_METADATA_FIELDS,
  changelogRowColumn,
  UNCHANGED_TOAST_COLUMN,
  UNCHANGED_TOAST_ELEMENT_ID,
} from '../contract/index.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import type { ChangeCodec, ChangeColumn } from './types.js';
import { quoteIdentifier, quoteString } from './duck.js';
import { fieldIdsEntry } from './state-sql.js';

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
  const parquetName = (column: ChangeColumn): string => changelogRowColumn(column.name);
  const toastNames = codec.columns
    .map((c) => `WHEN ${c.fieldId} THEN ${quoteString(names.get(c.fieldId) ?? c.name)}`)
    .join(' ');
  // The metadata columns by the names and in the order of CHANGELOG_METADATA_FIELDS.
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
    ...CHANGELOG_METADATA_FIELDS.map(({ name, id }) =>
      name === UNCHANGED_TOAST_COLUMN
        ? `${name}: {__duckdb_field_id: ${id}, element: ${UNCHANGED_TOAST_ELEMENT_ID}}`
        : `${name}: ${id}`,
    ),
    ...codec.columns.map((c) => `${quoteString(parquetName(c))}: ${fieldIdsEntry(c, CHANGELOG_ID_OFFSET)}`),
  ].join(', ');
  return { select, fieldIds: `{${fieldIds}}` };
}
