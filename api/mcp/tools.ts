import type { z } from 'zod';
import {
  changesInput,
  describeTableInput,
  diffInput,
  freshnessInput,
  listTablesInput,
  manifestInput,
  queryInput,
  snapshotInput,
} from '../schemas/inputs.js';
import {
  describeTableOutput,
  diffOutput,
  freshnessOutput,
  listTablesOutput,
  manifestOutput,
  queryOutput,
  snapshotOutput,
  type QueryWire,
} from '../schemas/outputs.js';
import type { ServeService } from '../service/index.js';

/**
 * The eight MCP tools: name, description, input and output schema, the service call, and how each result reads as
 * text. Descriptions are written for the model that picks the tool.
 */
export interface ToolDefinition<I extends z.ZodType, O extends z.ZodType> {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly input: I;
  readonly output: O;
  readonly run: (service: ServeService, principal: string, input: z.output<I>) => Promise<z.output<O>>;
  /** The tables a call names, for the audit record. */
  readonly tables: (input: z.output<I>) => string[];
  readonly rows?: (result: z.output<O>) => number;
  readonly resultTables?: (result: z.output<O>) => string[];
  readonly text?: (result: z.output<O>) => string;
}

const define = <I extends z.ZodType, O extends z.ZodType>(tool: ToolDefinition<I, O>): ToolDefinition<I, O> => tool;

/** A header line, then one JSON array per row: compact, and unambiguous for any value. */
function rowsText(result: QueryWire): string {
  const lines = [
    `${result.row_count} row(s)${result.truncated ? ' (truncated by the row limit)' : ''}, ${result.elapsed_ms} ms`,
    JSON.stringify(result.columns.map((c) => c.name)),
    ...result.rows.map((row) => JSON.stringify(row)),
  ];
  return lines.join('\n');
}

export const TOOLS = [
  define({
    name: 'list_tables',
    title: 'List tables',
    description:
      'The lake tables you may read: each replicated table `schema.table` (current state) and its changelog ' +
      '`schema.table__changes`, with row count, snapshot id, committed LSN and epoch.',
    input: listTablesInput,
    output: listTablesOutput,
    run: (service, principal) => service.listTables(principal),
    tables: () => [],
  }),
  define({
    name: 'describe_table',
    title: 'Describe a table',
    description: 'Columns (name, DuckDB and Iceberg type, primary key) and current snapshot of one table.',
    input: describeTableInput,
    output: describeTableOutput,
    run: (service, principal, input) => service.describeTable(principal, input),
    tables: (input) => [input.table],
  }),
  define({
    name: 'query',
    title: 'Query',
    description:
      'Read rows. Either a table query {table, columns?, filters?: [{column, op, value}], limit?} or {sql}: one ' +
      'read-only SELECT over your tables written "schema"."table". Optional ref (v<N>, raw@<time>) or ' +
      'snapshot_id reads the past. Results are capped by the server row limit (truncated tells).',
    input: queryInput,
    output: queryOutput,
    run: (service, principal, input) => service.query(principal, input),
    tables: (input) => (input.table ? [input.table] : []),
    rows: (result) => result.row_count,
    resultTables: (result) => Object.keys(result.snapshots),
    text: rowsText,
  }),
  define({
    name: 'get_changes',
    title: 'Get changes',
    description:
      'The change log of a table: inserts, updates and deletes (_op, _commit_lsn, _commit_ts, _seq, the row) ' +
      'committed after since_epoch (default 0: all) or since_lsn.',
    input: changesInput,
    output: queryOutput,
    run: (service, principal, input) => service.changes(principal, input),
    tables: (input) => [input.table],
    rows: (result) => result.row_count,
    text: rowsText,
  }),
  define({
    name: 'get_manifest',
    title: 'Get the manifest',
    description:
      "pg-cdc's manifest: the tables with their snapshot ids, schema ids and versions, epochs and committed " +
      'LSNs, at the latest version or at a ref.',
    input: manifestInput,
    output: manifestOutput,
    run: (service, principal, input) => service.manifest(principal, input),
    tables: () => [],
  }),
  define({
    name: 'get_freshness',
    title: 'Get freshness',
    description:
      "Whether the lake is current: is_stale, lag_seconds since the pipeline last committed, each table's last " +
      'commit, schema versions and the policy version. Use it to decide whether to re-read.',
    input: freshnessInput,
    output: freshnessOutput,
    run: (service, principal, input) => service.freshness(principal, input),
    tables: (input) => (input.table ? [input.table] : []),
  }),
  define({
    name: 'get_snapshot',
    title: 'Get a snapshot',
    description:
      "A table's Iceberg snapshot (current, at a ref, or by id): snapshot id, metadata file, and the Parquet " +
      'files, so you can read object storage with your own identity.',
    input: snapshotInput,
    output: snapshotOutput,
    run: (service, principal, input) => service.snapshot(principal, input),
    tables: (input) => [input.table],
  }),
  define({
    name: 'get_diff',
    title: 'Diff two refs',
    description:
      'The contract change between two refs (from, to; e.g. v3 → latest): safe, schema_change, policy_change or ' +
      'breaking, per table and overall, with promote_safe.',
    input: diffInput,
    output: diffOutput,
    run: (service, principal, input) => service.diff(principal, input),
    tables: () => [],
  }),
] as const;
