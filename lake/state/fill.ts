import type { DuckDBConnection } from '@duckdb/node-api';
import { formatLsn, ZERO_LSN } from '../../core/lsn/index.js';
import type { ColumnFill } from '../../core/types/evolution.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import type { Catalog } from '../catalog/index.js';
import { fieldIdsOf } from '../compaction/order.js';
import { pgcdcSummary, SUMMARY_KEY, summaryEpoch, summaryLsn } from '../contract/index.js';
import { headSnapshot } from '../iceberg/refs.js';
import { appendFiles, type LoadedTable } from '../iceberg/table.js';
import { currentDataFiles } from '../reader.js';
import { liveRowsSql, scanColumnNames } from '../scan.js';
import type { ObjectStore } from '../storage/index.js';
import { copyToLake, quoteIdentifier, quoteString } from './duck.js';
import { duckdbType } from './keys.js';
import { fillFileKey, fillSnapshotId } from './naming.js';
import type { ChangeCodec } from './types.js';

/**
 * Gives the rows already in a state table the values of the fields a schema change introduced (`fills`): an added
 * column's default as PostgreSQL reports it for existing rows, or a retyped column's old value cast to the new
 * type. Iceberg v2 has no initial default a reader would apply, so the live rows are rewritten: one file with
 * every field of `schema`, committed as an overwrite of all live files (a snapshot of kind `fill`, keeping the
 * table's epoch and LSN), before the schema itself is committed. Its id derives from (table, schema id), and the
 * current snapshot saying it filled for that schema makes a retried commit skip it.
 */
export async function fillNewFields(
  store: ObjectStore,
  catalog: Catalog,
  connection: DuckDBConnection,
  state: LoadedTable,
  schema: IcebergSchema,
  codec: ChangeCodec,
  fills: readonly ColumnFill[],
): Promise<LoadedTable> {
  const parent = headSnapshot(state.metadata);
  const schemaId = Math.max(...state.metadata.schemas.map((s) => s['schema-id'])) + 1;
  if (!parent || parent.summary[SUMMARY_KEY.filledFor] === String(schemaId)) return state;
  const files = await currentDataFiles(store, catalog, state.identifier);
  const names = scanColumnNames(schema);
  const columns = new Map(codec.columns.map((c) => [c.fieldId, c]));
  const select = schema.fields.map((field) => {
    const fill = fills.find((f) => f.fieldId === field.id);
    const column = columns.get(field.id);
    let value = `d.${quoteIdentifier(names.get(field.id)!)}`;
    if (fill?.default !== undefined && column) {
      value = column.convert(`CAST(${quoteString(fill.default)} AS ${column.csvType})`);
    } else if (fill?.fromFieldId !== undefined && names.has(fill.fromFieldId)) {
      value = `TRY_CAST(d.${quoteIdentifier(names.get(fill.fromFieldId)!)} AS ${duckdbType(field.type)})`;
    }
    return `${value} AS ${quoteIdentifier(names.get(field.id)!)}`;
  });
  // Read with the new schema: retired fields under their new names, added ones (NULL in every file) by their ids.
  const rows = liveRowsSql({ ...files, schema }, { select: select.join(', ') });
  if (rows === undefined) return state;
  const key = fillFileKey(state.location, state.metadata['table-uuid'], schemaId);
  const file = await copyToLake(connection, store, key, rows, fieldIdsOf(schema));
  const result = await appendFiles(store, catalog, state.identifier, {
    dataFiles: [file],
    replaceAll: true,
    operation: 'overwrite',
    snapshotId: fillSnapshotId(state.identifier, schemaId),
    summary: {
      ...pgcdcSummary({
        kind: 'fill',
        epoch: summaryEpoch(parent.summary) ?? 0,
        lsn: summaryLsn(parent.summary) ?? formatLsn(ZERO_LSN),
      }),
      [SUMMARY_KEY.filledFor]: String(schemaId),
    },
  });
  return result.table;
}
