import type pg from 'pg';

/**
 * The oldest transactions still open on the source. Logical decoding cannot release WAL, or move a slot's
 * `restart_lsn` and `catalog_xmin`, past the start of a transaction that is still running: one forgotten
 * `BEGIN` in a psql session, or a prepared transaction nobody committed, makes retained WAL grow while the stream
 * is healthy. `pg-cdc status` shows both so that an operator looks there first.
 */
export interface OpenTransaction {
  readonly pid: number;
  readonly user: string | null;
  readonly database: string | null;
  /** `active`, `idle in transaction`, … as pg_stat_activity reports it. */
  readonly state: string | null;
  /** The transaction's id once it has written something; null for a read-only transaction. */
  readonly xid: string | null;
  readonly started_at: string;
  readonly age_seconds: number;
  /** The start of its current (or last) statement, at most 200 characters. */
  readonly query: string | null;
}

export interface PreparedTransaction {
  readonly gid: string;
  readonly owner: string;
  readonly database: string;
  readonly prepared_at: string;
  readonly age_seconds: number;
}

export interface OldestTransactions {
  /** The longest-running open transaction of a client backend other than this one; null when none is open. */
  readonly running: OpenTransaction | null;
  /** The oldest transaction left prepared (two-phase commit); null when there is none. */
  readonly prepared: PreparedTransaction | null;
}

const RUNNING_SQL = `
SELECT pid, usename AS user, datname AS database, state, backend_xid::text AS xid,
       to_char(xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS started_at,
       extract(epoch FROM clock_timestamp() - xact_start)::float8 AS age_seconds, left(query, 200) AS query
  FROM pg_stat_activity
 WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() AND backend_type = 'client backend'
 ORDER BY xact_start
 LIMIT 1`;

const PREPARED_SQL = `
SELECT gid, owner, database,
       to_char(prepared AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS prepared_at,
       extract(epoch FROM clock_timestamp() - prepared)::float8 AS age_seconds
  FROM pg_prepared_xacts
 ORDER BY prepared
 LIMIT 1`;

/**
 * Reads both from the connected server. pg_stat_activity shows other users' queries only to superusers and
 * members of pg_read_all_stats; for anyone else `query` is null (or "<insufficient privilege>"), the rest is shown.
 */
export async function readOldestTransactions(client: pg.ClientBase): Promise<OldestTransactions> {
  const [running, prepared] = await Promise.all([
    client.query<OpenTransaction>(RUNNING_SQL),
    client.query<PreparedTransaction>(PREPARED_SQL),
  ]);
  return { running: running.rows[0] ?? null, prepared: prepared.rows[0] ?? null };
}
