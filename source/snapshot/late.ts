import type pg from 'pg';
import type { Logger } from '../../core/log/index.js';
import { parseLsnText, type LsnText } from '../../core/lsn/index.js';
import { quoteIdent, quoteQualified } from '../../core/selection/index.js';
import type { QualifiedTable } from './publication.js';

/**
 * The source side of a table that joins while `pg-cdc start` streams (docs/streaming.md, "Tables that join while
 * streaming"): putting it into pg-cdc's publication, waiting until no transaction older than that is running, and
 * exporting the snapshot its copy is read under, with what that snapshot sees.
 */

/**
 * Adds `table` to the publication when the publication lists its tables and lacks it. A publication `FOR ALL
 * TABLES` or `FOR TABLES IN SCHEMA` of its schema publishes it already (pg_publication_tables says so). Returns
 * whether the publication was altered.
 */
export async function addTableToPublication(
  client: pg.ClientBase,
  publication: string,
  table: QualifiedTable,
): Promise<boolean> {
  const { rowCount } = await client.query(
    'SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3',
    [publication, table.schema, table.name],
  );
  if (rowCount) return false;
  await client.query(
    `ALTER PUBLICATION ${quoteIdent(publication)} ADD TABLE ${quoteQualified(table.schema, table.name)}`,
  );
  return true;
}

/** Whether `table` is published by `publication` now. */
export async function isPublished(client: pg.ClientBase, publication: string, table: QualifiedTable): Promise<boolean> {
  const { rowCount } = await client.query(
    'SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3',
    [publication, table.schema, table.name],
  );
  return (rowCount ?? 0) > 0;
}

const WAIT_POLL_MS = 100;
const WAIT_LOG_EVERY_MS = 10_000;

/**
 * Waits until every transaction that was running when this was called has ended (the oldest running one, xmin, is
 * past the xmax of now). A transaction that wrote the table before it was published, and commits after, is then
 * committed before the copy's snapshot and so inside the copy; every later one is decoded with the table already
 * in the publication. Long transactions make this wait: it says so in the log.
 *
 * Returns the WAL insert position read before: every transaction the later snapshot does not see got its xid after
 * that, so it commits above it; and every transaction committed below it is seen. It is the base's committed LSN.
 */
export async function waitForOlderTransactions(
  client: pg.ClientBase,
  log: Logger,
  table: string,
  stopped: () => boolean,
): Promise<LsnText> {
  // Read before the horizon: a transaction that gets its xid after the horizon was read commits above this.
  const before = await client.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
  const lowest = parseLsnText(before.rows[0]!.lsn);
  const { rows } = await client.query<{ xmax: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax');
  const horizon = BigInt(rows[0]!.xmax);
  const started = Date.now();
  let logged = started;
  for (;;) {
    const now = await client.query<{ xmin: string }>('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin');
    if (BigInt(now.rows[0]!.xmin) >= horizon || stopped()) return lowest;
    if (Date.now() - logged >= WAIT_LOG_EVERY_MS) {
      logged = Date.now();
      log.info(
        { table, waitedMs: logged - started, horizon: String(horizon) },
        'a new table waits for transactions older than its publication to end before it is copied',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
  }
}

/** A snapshot held open on a connection of its own for a late table's copy. */
export interface HeldTableSnapshot {
  /** For `SET TRANSACTION SNAPSHOT` in the copying connections (copyChunk). */
  readonly snapshotName: string;
  /** `pg_current_snapshot()` of the exporting transaction: which transactions the copy contains. */
  readonly xids: string;
  /**
   * The WAL insert position read after the snapshot was taken: every transaction the snapshot sees committed below
   * it, so a transaction committed at or above it is never in the copy.
   */
  readonly seenBelow: LsnText;
  /** Ends the exporting transaction; the snapshot can no longer be imported after it. */
  release(): Promise<void>;
}

/**
 * Opens a REPEATABLE READ transaction on `client` (which it then owns until `release`) and exports its snapshot.
 * One statement: the snapshot is taken when it starts, so the xids describe exactly the snapshot exported, and the
 * LSN is read after it. The insert position, not `pg_current_wal_lsn()`: that is where WAL has been written out,
 * which lags the commit records of transactions already visible (with `synchronous_commit = off` by whole pages).
 */
export async function exportTableSnapshot(client: pg.ClientBase): Promise<HeldTableSnapshot> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const { rows } = await client.query<{ name: string; xids: string; lsn: string }>(
      'SELECT pg_export_snapshot() AS name, pg_current_snapshot()::text AS xids, pg_current_wal_insert_lsn()::text AS lsn',
    );
    const row = rows[0]!;
    return {
      snapshotName: row.name,
      xids: row.xids,
      seenBelow: parseLsnText(row.lsn),
      release: async () => {
        await client.query('COMMIT');
      },
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
