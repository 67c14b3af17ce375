/**
 * The governed query engine's contract, shared by its three front doors (MCP, REST, the query CLI). Every call
 * names a principal; what the principal may not see does not exist for it, in results, errors and descriptions.
 *
 * Errors are PgCdcErrors with these codes (ENGINE_ERROR_CODES): QUERY_INVALID (a malformed or refused request:
 * bad filter, limit above the row cap, SQL that is not one plain SELECT over the caller's tables), COLUMN_NOT_FOUND,
 * TABLE_NOT_FOUND (also for a table the principal may not see), REF_INVALID, REF_NOT_FOUND, SNAPSHOT_NOT_FOUND,
 * EPOCH_NOT_FOUND, QUERY_FAILED (the query ran and DuckDB refused a value: a conversion, a division by zero),
 * QUERY_TIMEOUT, NOT_AVAILABLE (files not on this machine, equality deletes), PRINCIPAL_UNKNOWN (from governance).
 * Messages never carry DuckDB's own text, file paths or names the principal may not see.
 */

import type { ErrorCode } from '../core/errors/index.js';

export const FILTER_OPS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'like', 'ilike', 'isnull', 'notnull'] as const;
export type FilterOp = (typeof FILTER_OPS)[number];

export const ENGINE_ERROR_CODES = [
  'QUERY_INVALID',
  'COLUMN_NOT_FOUND',
  'TABLE_NOT_FOUND',
  'REF_INVALID',
  'REF_NOT_FOUND',
  'SNAPSHOT_NOT_FOUND',
  'EPOCH_NOT_FOUND',
  'QUERY_FAILED',
  'QUERY_TIMEOUT',
  'NOT_AVAILABLE',
  'PRINCIPAL_UNKNOWN',
] as const satisfies readonly ErrorCode[];
export type EngineErrorCode = (typeof ENGINE_ERROR_CODES)[number];

export interface Filter {
  readonly column: string;
  readonly op: FilterOp;
  /** Absent for isnull/notnull; text otherwise, bound as a parameter and cast by DuckDB to the column's type. */
  readonly value?: string;
}

export interface StructuredQuery {
  readonly kind: 'structured';
  /** `schema.table` or `schema.table__changes`. */
  readonly table: string;
  /** Default: every visible column, in table order. */
  readonly columns?: readonly string[];
  readonly filters?: readonly Filter[];
  /**
   * Filters as text, `col:op:value` (`col:isnull`, `col:notnull`), parsed against the visible columns (a column
   * name may hold ':'; the longest matching name wins). All filters, parsed and given, must hold.
   */
  readonly where?: readonly string[];
  /** 1 … serve.query.row_limit; default the row limit. Larger is QUERY_INVALID. */
  readonly limit?: number;
}

export interface SqlQuery {
  readonly kind: 'sql';
  /** One read-only SELECT over the caller's visible tables, referenced as "schema"."table". */
  readonly sql: string;
  /** Caps the rows returned, like StructuredQuery.limit; a LIMIT in the statement applies as well. */
  readonly limit?: number;
}

/**
 * Where to read: a ref name (`main`, `staging`, a tag, `raw@<time>`) or a snapshot id; default the current snapshot,
 * `main`. Past `main` only for a role whose refs list staging (REF_FORBIDDEN otherwise).
 */
export interface ReadAt {
  /**
   * A ref of the table's metadata (`staging` of a table without that branch is its head, `main`); `raw@<time>`
   * that names no tag reads the newest raw tag at or before the time; decimal text that names no ref is read as a
   * snapshot id.
   */
  readonly ref?: string;
  /** Decimal snapshot id; every table the query touches must have it. */
  readonly snapshotId?: string;
  /** Read the newest base (the snapshot or a compaction) at or before that snapshot, without the epochs after it. */
  readonly baseOnly?: boolean;
}

export interface ResultColumn {
  readonly name: string;
  /** DuckDB type text, e.g. `BIGINT`, `DECIMAL(12,2)`, `VARCHAR[]`. */
  readonly type: string;
}

/**
 * JSON-safe values: integers as numbers when exact (|n| ≤ 2^53 − 1), decimal strings beyond; DECIMAL as its
 * exact text (`12.34`); dates and timestamps as DuckDB's ISO text (`2024-02-29`, `2024-03-01 12:34:56+00`); UUIDs
 * as text; top-level BLOBs as base64.
 */
export type ResultValue = null | boolean | number | string | ResultValue[] | { [key: string]: ResultValue };

export interface QueryResult {
  readonly columns: readonly ResultColumn[];
  readonly rows: readonly (readonly ResultValue[])[];
  readonly rowCount: number;
  /** true when more rows matched than were returned: the limit or the row cap cut the result. */
  readonly truncated: boolean;
  /** Snapshot id read, per table touched (tables with no snapshot yet are absent). */
  readonly snapshots: Readonly<Record<string, string>>;
  readonly elapsedMs: number;
}

export interface TableSummary {
  readonly table: string;
  readonly kind: 'state' | 'changes';
  /** Visible columns. */
  readonly columns: number;
  /** Live rows of the current snapshot (records minus position deletes). */
  readonly rowCount: number | null;
  readonly snapshotId: string | null;
  readonly committedLsn: string | null;
  readonly epoch: number | null;
}

export interface ColumnDescription {
  readonly name: string;
  readonly type: string;
  readonly icebergType: string;
  readonly fieldId: number;
  readonly required: boolean;
  readonly primaryKey: boolean;
}

export interface TableDescription extends TableSummary {
  /** Visible columns only, in table order. */
  readonly columnsDetail: readonly ColumnDescription[];
  /** The visible primary-key columns, in key order. */
  readonly primaryKey: readonly string[];
  readonly schemaId: number;
}

export interface ChangesRequest {
  /** `schema.table` or `schema.table__changes`: both read the changelog. */
  readonly table: string;
  /** Changes after this epoch, or after this commit LSN (`0/16B3748`); exactly one of the two. */
  readonly sinceEpoch?: number;
  readonly sinceLsn?: string;
  readonly columns?: readonly string[];
  readonly limit?: number;
}

export interface QueryEngine {
  listTables(principal: string): Promise<TableSummary[]>;
  /** TABLE_NOT_FOUND (the same error as for a table that does not exist) when the principal may not see it. */
  describeTable(principal: string, table: string): Promise<TableDescription>;
  query(principal: string, query: StructuredQuery | SqlQuery, at?: ReadAt): Promise<QueryResult>;
  /** Rows of the changelog in commit order (`_commit_lsn`, `_seq`). */
  changes(principal: string, request: ChangesRequest): Promise<QueryResult>;
  /** Releases the engine's own resources; the AccessPolicy stays open (its creator closes it). */
  close(): Promise<void>;
}

/**
 * What createQueryEngine needs besides the configuration and the policy. Defaults suit a server; the CLI and
 * tests pass smaller values.
 */
export interface QueryEngineTuning {
  /** How long a principal's decision is reused while policyVersion() does not move; default 5 minutes. */
  readonly decisionTtlMs?: number;
  /** DuckDB memory per request, DuckDB size text; default '1GB'. */
  readonly memoryLimit?: string;
  /** DuckDB threads per request; default min(cores, 4). */
  readonly threads?: number;
}
