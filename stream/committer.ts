import { isErrorCode, isRetryableCode, type ErrorCode } from '../core/errors/index.js';
import type { Logger } from '../core/log/index.js';
import type { EpochCommit } from '../lake/state/types.js';
import { formatLsn, type Lsn, type LsnText } from '../core/lsn/index.js';
import type { TableRoute } from './routes.js';
import type { SealedEpoch } from './spool.js';

/** Where sealed epochs go: the table's actor (Temporal) in production. */
export interface EpochSink {
  commit(route: TableRoute, sealed: SealedEpoch): Promise<EpochCommit>;
}

/** A table whose epoch failed for good: its later epochs wait in the spool, and the slot waits for it. */
export interface TableFailure {
  readonly table: string;
  readonly epoch: number;
  /** Commit LSNs of the epoch's first and last transaction; the slot is not acknowledged past the first. */
  readonly firstLsn: LsnText;
  readonly lastLsn: LsnText;
  readonly code: ErrorCode;
  readonly message: string;
  readonly hint: string;
  readonly at: string;
}

/** Where every failed table's message sends the operator. */
const RESTART_HINT =
  'fix the cause, then restart `pg-cdc start`: the epoch is still in the spool and is committed from there; the other tables keep streaming meanwhile';

export interface CommitterStats {
  epochs: number;
  rows: number;
  failures: number;
}

/**
 * Hands each table's sealed epochs to the sink one at a time, in order; tables proceed independently. A failed
 * hand-over is retried after a pause (the actor commits an epoch once), so an epoch is never skipped. An epoch
 * that fails with a code the catalog calls permanent (or bad input) stops its table only: it stays sealed in the
 * spool, the table is reported failed, and the other tables go on.
 */
export class EpochCommitter {
  private readonly inFlight = new Map<TableRoute, Promise<void>>();
  private readonly failed = new Map<string, TableFailure>();
  readonly stats: CommitterStats = { epochs: 0, rows: 0, failures: 0 };
  private stopped = false;

  constructor(
    private readonly sink: EpochSink,
    private readonly log: Logger,
    private readonly onCommitted: (route: TableRoute, result: EpochCommit) => void,
    private readonly onFatal: (error: unknown) => void,
    private readonly onTableFailed: (failure: TableFailure) => void,
    private readonly retryDelayMs = 2_000,
    private readonly maxAttempts = 10,
  ) {}

  /** Starts a hand-over for every table that has a sealed epoch and none in flight. */
  pump(routes: Iterable<TableRoute>): void {
    if (this.stopped) return;
    for (const route of routes) {
      if (this.inFlight.has(route) || this.failed.has(route.table)) continue;
      // A table that joined while streaming: its epochs wait until its base is committed.
      if (route.gate !== undefined && !route.gate.ready) continue;
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

  /** Tables stopped by a permanent failure of their next epoch. */
  get failures(): readonly TableFailure[] {
    return [...this.failed.values()];
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
        const code = failureCode(error);
        if (code !== undefined && !isRetryableCode(code)) {
          this.tableFailed(route, sealed, code, error);
          return;
        }
        if (attempt >= this.maxAttempts) {
          this.log.error(context, 'epoch commit failed for good; stopping the stream');
          this.onFatal(error);
          return;
        }
        this.log.warn({ ...context, code }, 'epoch commit failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs));
      }
    }
  }

  /**
   * The table stops before a change the stream cannot follow (StreamRunner.halt): reported like a failed epoch,
   * the one that would have held the change; its sealed epochs stay in the spool for the next start.
   */
  halt(route: TableRoute, at: Lsn, code: ErrorCode, error: unknown): void {
    const lsn = formatLsn(at);
    this.stopTable(
      route,
      { epoch: route.spool.nextEpochNumber, firstLsn: lsn, lastLsn: lsn },
      code,
      error,
      `${route.table} stops at a change it cannot follow (${code}, LSN ${lsn}): the other tables go on, the slot is held there`,
    );
  }

  private tableFailed(route: TableRoute, sealed: SealedEpoch, code: ErrorCode, error: unknown): void {
    const firstLsn = formatLsn(sealed.firstCommitLsn);
    const lastLsn = formatLsn(sealed.lastCommitLsn);
    this.stopTable(
      route,
      { epoch: sealed.batch.epoch, firstLsn, lastLsn },
      code,
      error,
      `${route.table} epoch ${sealed.batch.epoch} (LSN ${firstLsn}..${lastLsn}) failed with ${code}: the table stops here, the slot is held at ${firstLsn}`,
    );
  }

  /** Records the table's failure (what `state`, `status` and the metrics show), logs it, and stops the table. */
  private stopTable(
    route: TableRoute,
    where: Pick<TableFailure, 'epoch' | 'firstLsn' | 'lastLsn'>,
    code: ErrorCode,
    error: unknown,
    message: string,
  ): void {
    const root = withCode(error, code);
    const failure: TableFailure = {
      table: route.table,
      ...where,
      code,
      message: root?.message ?? String(error),
      hint: [hintOf(root), RESTART_HINT].filter(Boolean).join('; '),
      at: new Date().toISOString(),
    };
    this.failed.set(route.table, failure);
    this.log.error({ ...failure, err: error }, message);
    this.onTableFailed(failure);
  }
}

/** The first error code in the cause chain: a PgCdcError's `code`, or an ApplicationFailure's `type`. */
function failureCode(error: unknown): ErrorCode | undefined {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const { code, type } = e as { code?: unknown; type?: unknown };
    if (typeof code === 'string' && isErrorCode(code)) return code;
    if (typeof type === 'string' && isErrorCode(type)) return type;
  }
  return undefined;
}

/** The error in the chain that carries `code`. */
function withCode(error: unknown, code: ErrorCode): Error | undefined {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const { code: c, type } = e as { code?: unknown; type?: unknown };
    if (c === code || type === code) return e;
  }
  return undefined;
}

/** A PgCdcError's hint, or the one an activity put in its ApplicationFailure's details. */
function hintOf(error: Error | undefined): string | undefined {
  const { hint, details } = (error ?? {}) as { hint?: unknown; details?: unknown };
  if (typeof hint === 'string') return hint;
  const first = Array.isArray(details) ? (details[0] as { hint?: unknown } | undefined) : undefined;
  return typeof first?.hint === 'string' ? first.hint : undefined;
}
