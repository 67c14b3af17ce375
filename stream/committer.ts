import type { Logger } from '../core/log/index.js';
import type { EpochCommit } from '../lake/state/types.js';
import type { TableRoute } from './routes.js';
import type { SealedEpoch } from './spool.js';

/** Where sealed epochs go: the table's actor (Temporal) in production. */
export interface EpochSink {
  commit(route: TableRoute, sealed: SealedEpoch): Promise<EpochCommit>;
}

export interface CommitterStats {
  epochs: number;
  rows: number;
  failures: number;
}

/**
 * Hands each table's sealed epochs to the sink one at a time, in order; tables proceed independently. A failed
 * hand-over is retried after a pause (the actor dedupes by epoch), so an epoch is never skipped.
 */
export class EpochCommitter {
  private readonly inFlight = new Map<TableRoute, Promise<void>>();
  readonly stats: CommitterStats = { epochs: 0, rows: 0, failures: 0 };
  private stopped = false;

  constructor(
    private readonly sink: EpochSink,
    private readonly log: Logger,
    private readonly onCommitted: (route: TableRoute, result: EpochCommit) => void,
    private readonly onFatal: (error: unknown) => void,
    private readonly retryDelayMs = 2_000,
    private readonly maxAttempts = 10,
  ) {}

  /** Starts a hand-over for every table that has a sealed epoch and none in flight. */
  pump(routes: Iterable<TableRoute>): void {
    if (this.stopped) return;
    for (const route of routes) {
      if (this.inFlight.has(route)) continue;
      const sealed = route.spool.peekSealed();
      if (!sealed) continue;
      const work = this.commitOne(route, sealed).finally(() => {
        this.inFlight.delete(route);
        this.pump([route]);
      });
      this.inFlight.set(route, work);
    }
  }

  /** Resolves once nothing is sealed and nothing is in flight (or `stop` was called). */
  async drain(routes: readonly TableRoute[]): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      this.pump(routes);
      const pending = [...this.inFlight.values()];
      if (pending.length === 0) return;
      await Promise.all(pending);
    }
  }

  get busy(): number {
    return this.inFlight.size;
  }

  stop(): void {
    this.stopped = true;
  }

  private async commitOne(route: TableRoute, sealed: SealedEpoch): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.sink.commit(route, sealed);
        route.spool.committed(sealed.batch.epoch);
        this.stats.epochs += 1;
        this.stats.rows += result.changes;
        this.onCommitted(route, result);
        return;
      } catch (error) {
        this.stats.failures += 1;
        const context = { table: route.table, epoch: sealed.batch.epoch, attempt, err: error };
        // Stopped: nothing waits for this epoch any more; it stays sealed in the spool for the next start.
        if (this.stopped) {
          this.log.warn(context, 'epoch commit failed while stopping; left in the spool for the next start');
          return;
        }
        if (isPermanent(error) || attempt >= this.maxAttempts) {
          this.log.error(context, 'epoch commit failed for good; stopping the stream');
          this.onFatal(error);
          return;
        }
        this.log.warn(context, 'epoch commit failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs));
      }
    }
  }
}

const PERMANENT = new Set([
  'EPOCH_GAP',
  'EPOCH_MISMATCH',
  'SCHEMA_CHANGED',
  'TYPE_MAPPING',
  'SPOOL_MISSING',
  'CONFIG_INVALID',
]);

/** A failure the actor reports as non-retryable (its ApplicationFailure type is our error code). */
function isPermanent(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string' && PERMANENT.has(type)) return true;
    if ((e as { nonRetryable?: unknown }).nonRetryable === true) return true;
  }
  return false;
}
