/**
 * Which transactions a PostgreSQL snapshot sees, from `pg_current_snapshot()`'s text (`xmin:xmax:xip,...`, 64-bit
 * transaction ids): the one reading of it. A table that joins the stream late is copied under such a snapshot, and
 * a streamed transaction is applied on top of the copy exactly when the snapshot does not see it (docs/streaming.md,
 * "Tables that join while streaming").
 *
 * pgoutput names a transaction by its 32-bit xid. A 32-bit xid is widened to the 64-bit one nearest the snapshot's
 * `xmax`; only transactions committed below the snapshot's recorded LSN are ever tested, and those are within a few
 * thousand xids of it, far inside the 2^31 either side where the widening is exact.
 */
import { PgCdcError } from '../errors/index.js';

export interface SnapshotXids {
  /** Every transaction below it had ended when the snapshot was taken. */
  readonly xmin: bigint;
  /** No transaction at or above it had started. */
  readonly xmax: bigint;
  /** Transactions between the two still in progress then. */
  readonly xip: ReadonlySet<bigint>;
}

const SNAPSHOT_PATTERN = /^(\d+):(\d+):([\d,]*)$/;
const XID_SPAN = 1n << 32n;
const HALF_SPAN = 1n << 31n;

/** Parses `pg_current_snapshot()::text`; throws SNAPSHOT_INVALID when it is not one. */
export function parseSnapshotXids(text: string): SnapshotXids {
  const match = SNAPSHOT_PATTERN.exec(text.trim());
  if (!match) {
    throw new PgCdcError('SNAPSHOT_INVALID', `"${text}" is not a PostgreSQL snapshot (xmin:xmax:xip,...)`, {
      context: { value: text },
      hint: 'the value comes from pg_current_snapshot() and is kept in the table property pgcdc.snapshot-xids; restore it or snapshot the table again',
    });
  }
  const xip = match[3] === '' ? [] : match[3]!.split(',').map((xid) => BigInt(xid));
  return { xmin: BigInt(match[1]!), xmax: BigInt(match[2]!), xip: new Set(xip) };
}

export function formatSnapshotXids(snapshot: SnapshotXids): string {
  return `${snapshot.xmin}:${snapshot.xmax}:${[...snapshot.xip].join(',')}`;
}

/** The 64-bit xid of a 32-bit one, taken as the nearest to `reference` (a snapshot's xmax). */
export function widenXid(xid: number, reference: bigint): bigint {
  const epochBase = reference - (reference % XID_SPAN);
  let full = epochBase + BigInt(xid >>> 0);
  if (full > reference + HALF_SPAN) full -= XID_SPAN;
  else if (full < reference - HALF_SPAN) full += XID_SPAN;
  return full;
}

/** Whether the snapshot sees (counts as committed) the transaction with this 32-bit xid. */
export function snapshotSees(snapshot: SnapshotXids, xid: number): boolean {
  const full = widenXid(xid, snapshot.xmax);
  if (full < snapshot.xmin) return true;
  return full < snapshot.xmax && !snapshot.xip.has(full);
}
