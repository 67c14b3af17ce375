/** The PostgreSQL → Iceberg type mapping: pure planning, no I/O (see docs/types.md). */
export type { SourceColumn, SourceTable, SourceType } from './source.js';
export {
  lastColumnId,
  type IcebergField,
  type IcebergListType,
  type IcebergPrimitive,
  type IcebergSchema,
  type IcebergStructType,
  type IcebergType,
} from './iceberg.js';
export {
  INFINITY_SENTINELS,
  TEXT_FORM,
  mapScalar,
  numericTypmod,
  quoteIdentifier,
  quoteString,
  type PlanOptions,
  type ScalarMapping,
} from './mapping.js';
export { COPY_CSV_OPTIONS, csvRecord, READ_CSV_OPTIONS } from './csv.js';
export {
  icebergTypeOf,
  planTable,
  TypeMappingError,
  uniqueParquetNames,
  type ColumnIds,
  type ColumnPlan,
  type DuckDBFieldIds,
  type PlanIds,
  type TablePlan,
} from './plan.js';
export { SOURCE_SESSION_SETTINGS, sourceSessionOptions, sourceSessionSql, sourceSessionStatements } from './session.js';
