import type { Lsn } from '../core/lsn/index.js';
import type { TableRoute } from './routes.js';

/**
 * How far the slot may be acknowledged. A transaction is safe to forget once it is in the lake for every table it
 * touched; the server re-sends every transaction whose commit LSN is at or after the confirmed position, so the
 * position may advance to the oldest commit LSN still waiting in any table's spool, and no further. With nothing
 * waiting it follows the stream: the end of the last commit, a heartbeat message, or the server's keepalive.
 */
export class Checkpoint {
  private position = 0n as Lsn;

  /** Everything before `lsn` has been read and handed to the spool (or needed nothing). */
  advanceTo(lsn: Lsn): void {
    if (lsn > this.position) this.position = lsn;
  }

  get readPosition(): Lsn {
    return this.position;
  }

  confirmable(routes: Iterable<TableRoute>): Lsn {
    let oldest: Lsn | undefined;
    for (const route of routes) {
      for (const lsn of [route.spool.oldestUncommittedLsn(), route.gate?.oldestHeldLsn, route.haltedAt]) {
        if (lsn !== undefined && (oldest === undefined || lsn < oldest)) oldest = lsn;
      }
    }
    return oldest ?? this.position;
  }
}
