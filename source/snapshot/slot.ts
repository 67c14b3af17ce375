import type pg from 'pg';
import { PgCdcError } from '../../core/errors/index.js';
import { parseLsnText, type LsnText } from '../../core/lsn/index.js';
import { quoteIdent } from '../../core/selection/index.js';

/** What CREATE_REPLICATION_SLOT … (SNAPSHOT 'export') answers: the slot starts exactly where the snapshot is. */
export interface ExportedSnapshot {
  readonly slot: string;
  /** The LSN the slot's changes start after; every row in the snapshot is at or before it. */
  readonly consistentPoint: LsnText;
  /** Valid for `SET TRANSACTION SNAPSHOT` only while the exporting connection stays open and idle. */
  readonly snapshotName: string;
}

export class SlotExistsError extends PgCdcError {
  constructor(slot: string, database: string) {
    super('SLOT_EXISTS', `replication slot ${slot} already exists`, {
      context: { slot, database },
      hint: 'a snapshot needs a fresh slot: run `pg-cdc teardown` to drop the old slot and publication, or set replication.slot to another name',
    });
  }
}

/**
 * Create the logical slot on a replication connection and export its snapshot. PostgreSQL 15 takes the option
 * list form; 10–14 the EXPORT_SNAPSHOT keyword.
 */
export async function createSlotWithSnapshot(
  replicationClient: pg.Client,
  slot: string,
  serverVersionNum: number,
): Promise<ExportedSnapshot> {
  const command =
    serverVersionNum >= 150000
      ? `CREATE_REPLICATION_SLOT ${quoteIdent(slot)} LOGICAL pgoutput (SNAPSHOT 'export')`
      : `CREATE_REPLICATION_SLOT ${quoteIdent(slot)} LOGICAL pgoutput EXPORT_SNAPSHOT`;
  try {
    const { rows } = await replicationClient.query<{
      slot_name: string;
      consistent_point: string;
      snapshot_name: string;
    }>(command);
    const row = rows[0];
    if (!row?.snapshot_name) throw new Error('the server returned no snapshot name');
    return {
      slot: row.slot_name,
      consistentPoint: parseLsnText(row.consistent_point),
      snapshotName: row.snapshot_name,
    };
  } catch (error) {
    if ((error as { code?: string }).code === '42710') {
      throw new SlotExistsError(slot, replicationClient.database ?? '');
    }
    throw new PgCdcError('SLOT_CREATE_FAILED', `could not create replication slot ${slot}`, {
      context: { slot },
      hint: 'run `pg-cdc preflight`: the role needs REPLICATION and the server wal_level=logical with a free slot',
      cause: error,
    });
  }
}

export async function slotExists(client: pg.ClientBase, slot: string): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  return (rowCount ?? 0) > 0;
}

/** Drop the slot if it exists; an active slot (a live stream reading it) is an error, not a kill. */
export async function dropSlot(client: pg.ClientBase, slot: string): Promise<boolean> {
  const { rows } = await client.query<{ active_pid: number | null }>(
    'SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  const row = rows[0];
  if (!row) return false;
  if (row.active_pid !== null) {
    throw new PgCdcError('SLOT_ACTIVE', `replication slot ${slot} is in use by backend ${row.active_pid}`, {
      context: { slot, pid: row.active_pid },
      hint: 'stop `pg-cdc start` (or whatever reads the slot) first',
    });
  }
  await client.query('SELECT pg_drop_replication_slot($1)', [slot]);
  return true;
}
