import type { QueryResult, TableDescription, TableSummary } from '../../engine/types.js';
import type { DescribeTableWire, QueryWire, TableSummaryWire } from '../schemas/outputs.js';

/** The engine's results in the front doors' snake_case wire form. */
export function summaryWire(t: TableSummary): TableSummaryWire {
  return {
    table: t.table,
    kind: t.kind,
    column_count: t.columns,
    row_count: t.rowCount,
    snapshot_id: t.snapshotId,
    committed_lsn: t.committedLsn,
    epoch: t.epoch,
  };
}

export function describeWire(t: TableDescription): DescribeTableWire {
  return {
    table: t.table,
    kind: t.kind,
    row_count: t.rowCount,
    snapshot_id: t.snapshotId,
    committed_lsn: t.committedLsn,
    epoch: t.epoch,
    schema_id: t.schemaId,
    primary_key: [...t.primaryKey],
    columns: t.columnsDetail.map((c) => ({
      name: c.name,
      type: c.type,
      iceberg_type: c.icebergType,
      field_id: c.fieldId,
      required: c.required,
      primary_key: c.primaryKey,
    })),
  };
}

export function queryWire(r: QueryResult): QueryWire {
  return {
    columns: r.columns.map((c) => ({ name: c.name, type: c.type })),
    rows: r.rows.map((row) => [...row]),
    row_count: r.rowCount,
    truncated: r.truncated,
    snapshots: { ...r.snapshots },
    elapsed_ms: r.elapsedMs,
  };
}
