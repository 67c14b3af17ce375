import type pg from 'pg';

/**
 * Where the server's WAL ends. A primary has an insert position; a standby (where logical slots live from
 * PostgreSQL 16) has none, and `pg_current_wal_lsn()` fails there: its WAL ends at the last position received from
 * the primary, or, restoring from an archive with nothing streaming in, at the last one replayed.
 */
const WAL_END_SQL = `CASE WHEN pg_is_in_recovery()
  THEN coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) ELSE pg_current_wal_lsn() END`;

/** `wal_status` is read through to_jsonb: the column exists from PostgreSQL 13 on. */
const SLOT_POSITION_SQL = `
SELECT w.wal_end::text AS wal_end, s.slot_name IS NOT NULL AS found, s.plugin, s.slot_type, s.database, s.active,
       s.active_pid, to_jsonb(s) ->> 'wal_status' AS wal_status,
       s.restart_lsn::text AS restart_lsn, s.confirmed_flush_lsn::text AS confirmed_flush_lsn,
       pg_wal_lsn_diff(w.wal_end, s.restart_lsn)::bigint::text AS retained,
       pg_wal_lsn_diff(w.wal_end, s.confirmed_flush_lsn)::bigint::text AS lag
  FROM (SELECT ${WAL_END_SQL} AS wal_end) w
  LEFT JOIN pg_replication_slots s ON s.slot_name = $1`;

interface SlotPositionRow {
  wal_end: string | null;
  found: boolean;
  plugin: string | null;
  slot_type: string;
  database: string | null;
  active: boolean;
  active_pid: number | null;
  wal_status: string | null;
  restart_lsn: string | null;
  confirmed_flush_lsn: string | null;
  retained: string | null;
  lag: string | null;
}

export interface SlotState {
  readonly plugin: string | null;
  readonly slotType: string;
  readonly database: string | null;
  readonly active: boolean;
  readonly activePid: number | null;
  /** PostgreSQL 13+: reserved, extended, unreserved or lost. */
  readonly walStatus: string | null;
  readonly restartLsn: string | null;
  readonly confirmedFlushLsn: string | null;
  /** WAL the server keeps for the slot: WAL end − restart_lsn. */
  readonly retainedBytes: number | null;
  /** How far the slot's reader is behind: WAL end − confirmed_flush_lsn. */
  readonly lagBytes: number | null;
}

export interface SlotPosition {
  /** Where the server's WAL ends (see WAL_END_SQL), as PostgreSQL prints an LSN; null on a standby with no WAL yet. */
  readonly walEnd: string | null;
  /** Absent when no slot of that name exists. */
  readonly slot?: SlotState;
}

const bytes = (value: string | null): number | null => (value === null ? null : Number(value));

/** The server's WAL end and, if the slot exists, its state and how much WAL it keeps and has yet to confirm. */
export async function readSlotPosition(client: pg.ClientBase, slot: string): Promise<SlotPosition> {
  const row = (await client.query<SlotPositionRow>(SLOT_POSITION_SQL, [slot])).rows[0]!;
  if (!row.found) return { walEnd: row.wal_end };
  return {
    walEnd: row.wal_end,
    slot: {
      plugin: row.plugin,
      slotType: row.slot_type,
      database: row.database,
      active: row.active,
      activePid: row.active_pid,
      walStatus: row.wal_status,
      restartLsn: row.restart_lsn,
      confirmedFlushLsn: row.confirmed_flush_lsn,
      retainedBytes: bytes(row.retained),
      lagBytes: bytes(row.lag),
    },
  };
}
