import { snapshotSees, type SnapshotXids } from '../core/xid/index.js';
import type { Lsn } from '../core/lsn/index.js';
import type { ShapedKeys, TableSpool, TransactionMeta } from './spool.js';

interface HeldTransaction {
  readonly parts: readonly ShapedKeys[];
  readonly meta: TransactionMeta;
}

export type GateVerdict = 'in-base' | 'apply' | 'hold';

/**
 * The rule for a table that joined while streaming, whose base was copied under a snapshot of its own: a streamed
 * transaction belongs on top of the base exactly when that snapshot does not see it. Every transaction the snapshot
 * sees committed below the LSN read after it, so only those below are tested by xid (core/xid).
 *
 * Until the snapshot is taken, the table's committed transactions are held (their rows stay in the spool's
 * pending files) and the slot is not acknowledged past the oldest of them; then each is dropped or moved into the
 * open epoch, in commit order. Epochs are handed to the table's actor only once its base is committed (`ready`).
 */
export class SnapshotGate {
  private snapshot: { readonly xids: SnapshotXids; readonly lsn: Lsn } | undefined;
  private held: HeldTransaction[] = [];
  /** The base is in the lake and the table's actor runs: its epochs may be committed. */
  ready = false;

  /** A gate for a table whose base is committed already (a restart). */
  static committed(xids: SnapshotXids, lsn: Lsn): SnapshotGate {
    const gate = new SnapshotGate();
    gate.snapshot = { xids, lsn };
    gate.ready = true;
    return gate;
  }

  verdict(xid: number, commitLsn: Lsn): GateVerdict {
    const snapshot = this.snapshot;
    if (snapshot === undefined) return 'hold';
    if (commitLsn >= snapshot.lsn) return 'apply';
    return snapshotSees(snapshot.xids, xid) ? 'in-base' : 'apply';
  }

  hold(parts: readonly ShapedKeys[], meta: TransactionMeta): void {
    this.held.push({ parts, meta });
  }

  /**
   * The snapshot is taken: the held transactions go into the base (dropped) or into the open epoch. Returns how
   * many went each way, for the log.
   */
  resolve(xids: SnapshotXids, lsn: Lsn, spool: TableSpool): { inBase: number; applied: number } {
    this.snapshot = { xids, lsn };
    const held = this.held;
    this.held = [];
    let inBase = 0;
    for (const { parts, meta } of held) {
      if (this.verdict(meta.xid, meta.commitLsn) === 'in-base') {
        inBase += 1;
        for (const { keys } of parts) for (const key of keys) spool.discard(key);
      } else spool.commitParts(parts, meta);
    }
    return { inBase, applied: held.length - inBase };
  }

  /** Forgets what is held (the table's snapshot failed; it starts over). */
  abandon(spool: TableSpool): void {
    for (const { parts } of this.held) for (const { keys } of parts) for (const key of keys) spool.discard(key);
    this.held = [];
  }

  /** The oldest held commit LSN: the slot may not be acknowledged past it. */
  get oldestHeldLsn(): Lsn | undefined {
    return this.held[0]?.meta.commitLsn;
  }
}
