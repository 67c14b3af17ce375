/**
 * Every error code pg-cdc raises, declared once: what a retry can do about it and the HTTP status the front doors
 * answer with. Temporal's retry policies (`nonRetryableErrorTypes`, `ApplicationFailure.nonRetryable`) and the API's
 * error mapping are derived from this table, and docs/errors.md is checked against it. Pure data: workflow code may
 * import it.
 *
 * - `retryable`: a passing fault (a connection, a lock, a conflict); the same request may succeed later.
 * - `permanent`: the state on disk or at the source must change first (a corrupt file, a gap, a changed schema).
 * - `bad-input`: the caller's input or configuration is wrong; retrying the same input fails the same way.
 */
export type FailureClass = 'retryable' | 'permanent' | 'bad-input';

export interface FailureEntry {
  readonly class: FailureClass;
  readonly status: number;
  /** One line for the reference (docs/errors.md). */
  readonly means: string;
}

const retryable = (means: string, status = 500): FailureEntry => ({ class: 'retryable', status, means });
const permanent = (means: string, status = 500): FailureEntry => ({ class: 'permanent', status, means });
const badInput = (means: string, status = 400): FailureEntry => ({ class: 'bad-input', status, means });

export const FAILURES = {
  // Configuration and the local environment
  CONFIG_INVALID: badInput('pg-cdc.yml or a command-line option is invalid (with the key path)'),
  ENVIRONMENT: permanent('a binary, toolchain or service pg-cdc starts itself is missing or failed to start'),
  CONFIRMATION_REQUIRED: badInput('a destructive command was not confirmed (`--yes`)'),
  NOT_AVAILABLE: permanent('the feature is not available in this version', 501),
  NOT_INITIALIZED: permanent('the lake has no snapshot to stream into: run `pg-cdc init`'),
  SERVE_INSECURE: badInput('`pg-cdc serve` would listen beyond loopback without authentication'),

  // The source database
  SOURCE_UNREACHABLE: retryable('the source database could not be reached or refused the connection', 503),
  SOURCE_CREDENTIALS: retryable(
    'the source password (`password_file`) or RDS IAM token could not be read or minted',
    503,
  ),
  SOURCE_TABLE_NOT_FOUND: permanent('a selected table is not in the source database'),
  SOURCE_TYPE_UNKNOWN: permanent('a column type oid is not in pg_type'),
  PREFLIGHT_FAILED: permanent('the source is not ready for logical replication (the report lists the fixes)'),
  SLOT_EXISTS: permanent('the replication slot `init` would create already exists'),
  SLOT_CREATE_FAILED: retryable('the replication slot could not be created'),
  SLOT_ACTIVE: retryable('the replication slot is in use by another backend'),
  SLOT_IN_USE: retryable('the replication slot is being read by another client'),
  SLOT_NOT_FOUND: permanent('the replication slot does not exist: run `pg-cdc init`'),
  PUBLICATION_NOT_FOUND: permanent('the publication does not exist: run `pg-cdc init`'),
  PUBLICATION_MISMATCH: permanent('the publication exists with another set of tables'),
  SNAPSHOT_GONE: permanent('the exported snapshot ended before every chunk was copied'),
  SNAPSHOT_ATTEMPTS_EXHAUSTED: permanent('the snapshot lost its exporting connection too many times'),
  ROW_TOO_LONG: permanent('a row is longer than the snapshot copy accepts'),
  UNTAGGED_TABLES: permanent('strict mode: a table about to be published has no classification'),
  SNAPSHOT_INVALID: permanent('a recorded PostgreSQL snapshot (`xmin:xmax:xip`) does not parse'),
  LATE_TABLE_FAILED: retryable(
    'a table that joined while streaming could not be snapshotted; the next check tries again',
  ),

  // The replication stream
  REPLICATION_CONNECTION_LOST: retryable('the replication connection was lost; streaming reconnects', 503),
  REPLICATION_FAILED: permanent('the server refused or ended logical replication with an error'),
  REPLICATION_OPTIONS_INVALID: badInput('the replication options cannot be used together'),
  REPLICATION_PROTOCOL: permanent('the replication stream broke the protocol (a message out of order)'),
  PGOUTPUT_DECODE: permanent('a pgoutput message does not decode'),
  ARRAY_LITERAL_INVALID: permanent('a PostgreSQL array value does not parse'),
  LSN_INVALID: badInput('text is not an LSN, or an LSN is out of range'),
  SCHEMA_CHANGED: permanent(
    'the columns of a table changed in a way the stream cannot follow (before the first start of a base committed without its source columns)',
  ),
  TYPE_MAPPING: permanent('a column type has no Iceberg mapping'),
  SPOOL_MISSING: permanent('a sealed epoch is not in the spool (or was written by an older version)'),
  SPOOL_DISK_FULL: retryable(
    "the spool's disk is full (or over quota): the stream stopped before acknowledging anything not in the lake",
    507,
  ),

  // Epochs and the lake
  EPOCH_GAP: permanent('an epoch arrived before the one it follows was committed'),
  EPOCH_MISMATCH: permanent('an epoch disagrees with what the lake holds for it'),
  EPOCH_STATE: permanent('the table in the lake is not in a state this epoch can build on'),
  EPOCH_BATCH_INVALID: permanent('the change files of an epoch do not read'),
  EPOCH_OUT_OF_MEMORY: retryable('DuckDB ran out of its memory limit reading an epoch; the epoch is retried'),
  EPOCH_COMMIT_FAILED: retryable('an epoch commit ended without a result (its activity timed out); restart to resend'),
  LAKE_CORRUPT: permanent('a metadata, manifest or version file of the lake is missing or does not decode'),
  LAKE_NOT_EMPTY: permanent('`init` found tables in the lake already'),
  LAKE_FILE_NOT_LOCAL: permanent('a data file of the table is not on this machine'),
  EQUALITY_DELETES: permanent('a table holds equality-delete files, which pg-cdc does not read'),
  COMMIT_CONFLICT: retryable('another writer committed first (compare-and-swap lost)', 409),
  PROMOTION_FAILED: permanent('the promotion of staging to main failed (the promote:<db> workflow says why)'),
  PARQUET_WRITE_FAILED: retryable('writing a Parquet file failed'),
  STORAGE_KEY_INVALID: badInput('an object storage key is empty, absolute or escapes the lake'),
  STORAGE_REQUEST_FAILED: retryable('an object storage request failed after the client retried it', 503),
  STORAGE_WRITER_STOPPED: permanent('the conflict breaker stopped this writer: another one writes the same lake', 409),
  TABLE_IDENTIFIER_INVALID: badInput('a table identifier is not `schema.table`'),
  TABLE_EXISTS: permanent('the table is in the catalog already', 409),
  TABLE_NOT_FOUND: badInput('the table is not in the lake, or the caller may not see it', 404),
  SNAPSHOT_NOT_FOUND: badInput('the table has no snapshot of that id', 404),
  LAKE_EMPTY: badInput('the lake holds no tables yet: run `pg-cdc init`', 404),

  // The AWS Glue catalog
  CATALOG_UNAVAILABLE: retryable('the AWS Glue catalog did not answer, or throttled the request', 503),
  CATALOG_ACCESS_DENIED: permanent('the AWS Glue catalog refused the credentials pg-cdc runs with', 403),
  CATALOG_ENTRY_INVALID: permanent('a catalog table does not hold what pg-cdc registers (its pointer or location)'),

  // Compaction
  COMPACTION_STALE: retryable('a compaction rewrite no longer applies (its base files were removed since); rerun', 409),
  SNAPSHOT_RUNNING: badInput('`init` is still copying the tables: they cannot be compacted yet', 409),
  COMPACTION_INPUT: permanent('a table cannot be compacted as it is (e.g. its snapshot predates its schema)'),

  // Temporal
  TEMPORAL_UNREACHABLE: retryable('the Temporal server could not be reached', 503),
  TEMPORAL_SEARCH_ATTRIBUTES: permanent(
    "pg-cdc's search attributes are not registered and could not be registered",
    503,
  ),

  // Governance
  PRINCIPAL_UNKNOWN: badInput('no role of that name', 403),
  RESOURCE_INVALID: badInput('text is not `db`, `db.schema.table` or `db.schema.table.column`'),
  RESOURCE_NOT_REGISTERED: badInput('the resource is not in the governance registry'),
  RESOURCE_NOT_IN_LAKE: badInput('the resource names nothing in the lake'),
  TAG_INVALID: badInput('a tag is not `key=value` with a clean key and value'),
  GRANT_EXPRESSION_INVALID: badInput('a grant expression does not parse'),
  REGISTRY_TOO_NEW: permanent('the governance registry was written by a newer pg-cdc'),
  REGISTRY_UNAVAILABLE: retryable('the governance registry cannot be opened or reached', 503),
  REGISTRY_CONFLICT: retryable('a registry entry kept changing under concurrent writers', 409),
  LAKE_FORMATION_FAILED: retryable('an AWS Lake Formation or Glue call of governance failed', 502),
  GRANT_NOT_EXPRESSIBLE: badInput('a role grant has no Lake Formation LF-tag policy equivalent'),
  ACL_SET_EMPTY: badInput('`acl set` was given nothing to set'),
  REASON_REQUIRED: badInput('a break-glass grant needs a reason'),
  WAIT_INVALID: badInput('`--wait` is not a duration'),
  ROLE_REQUIRED: badInput('a query needs a role (`--role` or `$PGCDC_ROLE`)'),
  BREAK_GLASS_TTL_INVALID: badInput('a break-glass TTL is not a duration within the maximum'),
  BREAK_GLASS_ACTIVE: badInput('a break-glass grant for that principal and resource is running already', 409),
  BREAK_GLASS_NOT_FOUND: badInput('no running break-glass grant for that principal and resource', 404),
  BREAK_GLASS_ENDED: badInput('the break-glass grant is already ending: it can no longer be extended', 409),
  BREAK_GLASS_NOT_APPLIED: retryable('a break-glass change did not reach the registry in time'),

  // The query engine and the front doors
  QUERY_INVALID: badInput('a malformed or refused query'),
  QUERY_FAILED: badInput('the query ran and a value the caller gave did not convert'),
  QUERY_TIMEOUT: retryable('the query did not finish in time', 504),
  COLUMN_NOT_FOUND: badInput('the column is not in the table, or the caller may not see it'),
  REF_INVALID: badInput('a ref is not `latest`, `v<N>`, `ts:<time>` or a snapshot id'),
  REF_NOT_FOUND: badInput('no manifest version matches the ref', 404),
  REF_FORBIDDEN: badInput('the role reads what was promoted to `main`; staging needs `refs: [main, staging]`', 403),
  VERSION_PRUNED: badInput('the manifest or catalog version asked for was pruned; the hint names the oldest kept', 410),
  EPOCH_NOT_FOUND: badInput('the changelog has no such epoch', 404),
  BAD_REQUEST: badInput('the request does not match its schema'),
  UNAUTHORIZED: badInput('no valid bearer token', 401),
  HOST_NOT_ALLOWED: badInput('a request without a token was not addressed to a loopback host', 403),
  NOT_FOUND: badInput('no such route', 404),
  METHOD_NOT_ALLOWED: badInput('the route does not take that method', 405),
  BODY_TOO_LARGE: badInput('the request body is over the limit', 413),
  UNSUPPORTED_MEDIA_TYPE: badInput('the request body is not JSON', 415),
  RATE_LIMITED: retryable('the rate limit was reached (see `Retry-After`)', 429),
  INTERNAL: retryable('an unexpected failure; the log has the details (on the server, under the request id)'),
  WORKFLOW_FAILED: retryable('a workflow failed without one of the codes above; the workflow id says which'),
} as const satisfies Readonly<Record<string, FailureEntry>>;

export type ErrorCode = keyof typeof FAILURES;

export const ERROR_CODES = Object.keys(FAILURES) as readonly ErrorCode[];

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(FAILURES, code);
}

/** The entry of a code; a code outside the catalog is treated as an unexpected, retryable failure. */
export function failureOf(code: string): FailureEntry {
  return isErrorCode(code) ? FAILURES[code] : FAILURES.INTERNAL;
}

/** Codes a retry cannot fix: every permanent and bad-input code. Temporal's `nonRetryableErrorTypes`. */
export const NON_RETRYABLE_CODES: readonly ErrorCode[] = Object.freeze(
  ERROR_CODES.filter((code) => FAILURES[code].class !== 'retryable'),
);

export const isRetryableCode = (code: string): boolean => failureOf(code).class === 'retryable';

/** The HTTP status of a code; 500 for a code outside the catalog. */
export const httpStatusOf = (code: string): number => failureOf(code).status;
