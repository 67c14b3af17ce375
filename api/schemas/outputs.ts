import { z } from 'zod';
import { DIFF_CLASSES, type DiffClass } from '../../lake/contract/index.js';

/**
 * What the front doors answer: the MCP tools' output schemas (their `structuredContent`) and the REST bodies are
 * these same objects, so a caller can switch between the two without re-learning the data.
 */
const nullableText = z.string().nullable();

export const tableSummary = z.object({
  table: z.string(),
  kind: z.enum(['state', 'changes']),
  column_count: z.number().int(),
  row_count: z.number().int().nullable(),
  snapshot_id: nullableText,
  committed_lsn: nullableText,
  epoch: z.number().int().nullable(),
});

export const listTablesOutput = z.object({ tables: z.array(tableSummary) });

export const columnDetail = z.object({
  name: z.string(),
  type: z.string().describe('DuckDB type as the query returns it'),
  iceberg_type: z.string(),
  field_id: z.number().int(),
  required: z.boolean(),
  primary_key: z.boolean(),
});

export const describeTableOutput = tableSummary.omit({ column_count: true }).extend({
  schema_id: z.number().int(),
  primary_key: z.array(z.string()),
  columns: z.array(columnDetail),
});

export const queryOutput = z.object({
  columns: z.array(z.object({ name: z.string(), type: z.string() })),
  rows: z.array(z.array(z.json())).describe('one array per row, values in the order of columns'),
  row_count: z.number().int(),
  truncated: z.boolean().describe('true when the row cap cut the result'),
  snapshots: z.record(z.string(), z.string()).describe('snapshot id read, per table'),
  elapsed_ms: z.number(),
});

const icebergRef = z.object({
  snapshot_id: nullableText,
  schema_id: z.number().int(),
  metadata_location: z.string(),
});

export const manifestOutput = z.object({
  version: z.number().int(),
  updated_at: z.string(),
  source: z.object({
    database: z.string(),
    slot: z.string(),
    publication: z.string(),
    consistent_point_lsn: nullableText,
  }),
  policy_version: z.number().int().nullable(),
  tables: z.record(
    z.string(),
    icebergRef.extend({
      changes: icebergRef.nullable(),
      columns: z.array(z.string()),
      primary_key: z.array(z.string()),
      row_count: z.number().int(),
      epoch: z.number().int(),
      committed_lsn: z.string(),
      schema_version: z.number().int(),
      dropped_at: nullableText.describe('when the source table was found dropped; the data stays as of its last epoch'),
    }),
  ),
});

export const tableFreshness = z.object({
  table: z.string(),
  epoch: z.number().int(),
  committed_lsn: z.string(),
  last_commit_at: nullableText.describe('when the table last took a commit (its newest state or changelog snapshot)'),
  seconds_since_commit: z.number().nullable(),
  schema_version: z.number().int(),
  schema_id: z.number().int(),
  last_schema_change: z
    .object({
      from_schema_id: z.number().int(),
      schema_id: z.number().int(),
      classification: z.enum(['schema_change', 'breaking']),
      added_columns: z.array(z.string()),
      removed_columns: z.array(z.string()),
      renamed_columns: z.array(z.object({ from: z.string(), to: z.string() })),
      type_changes: z.array(z.object({ name: z.string(), from: z.string(), to: z.string(), widening: z.boolean() })),
    })
    .nullable()
    .describe(
      'how the current schema differs from the one before it, in the columns visible to the caller: schema_change for additions and widenings, breaking for a drop, a rename or a narrowing; null when the table has one schema or the change touched no visible column',
    ),
});

export const freshnessOutput = z.object({
  checked_at: z.string(),
  manifest_version: z.number().int(),
  manifest_updated_at: z.string(),
  lag_seconds: z.number().describe('seconds since the pipeline last committed anything to the lake'),
  max_lag_seconds: z.number(),
  is_stale: z.boolean().describe('lag_seconds > max_lag_seconds: the stream worker is behind or stopped'),
  policy_version: z.number().int().nullable(),
  tables: z.array(tableFreshness),
});

const fileEntry = z.object({
  path: z.string(),
  record_count: z.number().int(),
  file_size_in_bytes: z.number().int(),
});

export const snapshotOutput = z.object({
  table: z.string(),
  kind: z.enum(['state', 'changes']),
  snapshot_id: nullableText,
  parent_snapshot_id: nullableText,
  committed_at: nullableText,
  operation: nullableText,
  lsn: nullableText.describe('pgcdc.lsn of the snapshot: every change committed at or before it is in it'),
  epoch: z.number().int().nullable(),
  schema_id: z.number().int(),
  table_location: z.string(),
  data_location: z.string().describe('where the Parquet files live, for readers with their own storage identity'),
  metadata_location: z.string(),
  record_count: z.number().int(),
  data_files: z.array(fileEntry),
  delete_files: z.array(fileEntry.extend({ content: z.enum(['position', 'equality']) })),
});

export const diffClass = z.enum(DIFF_CLASSES);
export type { DiffClass };

const refPoint = z.object({ ref: z.string(), manifest_version: z.number().int(), updated_at: z.string() });
const typedColumn = z.object({ name: z.string(), type: z.string() });

export const tableDiff = z.object({
  table: z.string(),
  change: z.enum(['added', 'removed', 'changed', 'unchanged']),
  classification: diffClass,
  added_columns: z.array(typedColumn),
  removed_columns: z.array(typedColumn),
  type_changes: z.array(z.object({ name: z.string(), from: z.string(), to: z.string(), widening: z.boolean() })),
  renamed_columns: z.array(z.object({ field_id: z.number().int(), from: z.string(), to: z.string() })),
  primary_key_changed: z.boolean(),
  epochs: z.object({ from: z.number().int().nullable(), to: z.number().int().nullable() }),
  row_count: z.object({ from: z.number().int().nullable(), to: z.number().int().nullable() }),
});

export const diffOutput = z.object({
  from: refPoint,
  to: refPoint,
  classification: diffClass.describe('the most severe change: safe < schema_change < policy_change < breaking'),
  promote_safe: z.boolean().describe('false when the change is breaking: promoting it needs --force'),
  policy: z.object({
    from_version: z.number().int().nullable(),
    to_version: z.number().int().nullable(),
    changed: z.boolean().nullable().describe('null when a side does not record its policy version'),
  }),
  tables: z.array(tableDiff),
});

export type TableSummaryWire = z.infer<typeof tableSummary>;
export type DescribeTableWire = z.infer<typeof describeTableOutput>;
export type QueryWire = z.infer<typeof queryOutput>;
export type ManifestWire = z.infer<typeof manifestOutput>;
export type FreshnessWire = z.infer<typeof freshnessOutput>;
export type TableFreshnessWire = z.infer<typeof tableFreshness>;
export type SnapshotWire = z.infer<typeof snapshotOutput>;
export type DiffWire = z.infer<typeof diffOutput>;
export type TableDiffWire = z.infer<typeof tableDiff>;
