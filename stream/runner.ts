import type { PgCdcConfig } from '../core/config/index.js';
import { PgCdcError, type ErrorCode } from '../core/errors/index.js';
import type { Logger } from '../core/log/index.js';
import type { SourceSettings } from '../source/connection.js';
import { ZERO_LSN, formatLsn, parseLsn } from '../core/lsn/index.js';
import { sameRelation } from '../core/types/evolution.js';
import type { RelationMessage } from '../source/replication/messages.js';
import { ReplicationStream } from '../source/replication/stream.js';

type StreamItem = ReplicationStream extends AsyncIterable<infer T> ? T : never;
import { TransactionAssembler } from './assembler.js';
import { Checkpoint } from './checkpoint.js';
import { EpochCommitter, type EpochSink } from './committer.js';
import { SourceProbe } from './probe.js';
import { describeChanges, RelationEvolver } from './evolve.js';
import { newColumnsPolicy } from '../governance/new-columns.js';
import { openRegistryIfPresent, recordColumnChanges } from './governance.js';
import { describeTarget } from '../source/connection.js';
import { describeKeyChange, keyAfterRelation, withPrimaryKey } from './identity.js';
import { reshapeRoute, routeColumns, type TableRoute } from './routes.js';
import { StreamMetrics } from './metrics.js';
import { LateTables, type LateTablesOptions, type TableOnboarding } from './late-tables.js';

export interface StreamRunnerOptions {
  readonly config: PgCdcConfig;
  readonly source: SourceSettings;
  /** Grows and shrinks while streaming: tables join and are dropped (late-tables.ts). */
  readonly routes: Map<string, TableRoute>;
  readonly sink: EpochSink;
  /** Where a table that joins while streaming is snapshotted and started; without it, none joins. */
  readonly lateTables?: {
    readonly lake: LateTablesOptions['lake'];
    readonly onboarding: Promise<TableOnboarding>;
  };
  readonly log: Logger;
  readonly protoVersion: 1 | 2;
  readonly metrics?: StreamMetrics;
  /** Called about once a second with the stream's state (for the status file). */
  readonly onStatus?: (metrics: StreamMetrics) => void;
}

export class ReconnectExhaustedError extends PgCdcError {
  constructor(attempts: number, cause: unknown) {
    super('SOURCE_UNREACHABLE', `lost the replication connection and could not reconnect after ${attempts} attempts`, {
      cause,
      hint: 'check that PostgreSQL is up and reachable; nothing past the last committed epoch was acknowledged, so `pg-cdc start` resumes where it stopped (source.postgres.reconnect sets the attempts and back-off)',
    });
  }
}

const TICK_MS = 200;
/** Longest the read loop keeps the event loop to itself; checked every YIELD_CHECK messages. */
const YIELD_AFTER_MS = 2;
const YIELD_CHECK = 64;
const CLOSE_WAIT_MS = 8_000;
const DRAIN_WAIT_MS = 45_000;
const sleepMs = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());
const ACK_EVERY_MS = 1_000;
const HEARTBEAT_PREFIX = 'pg-cdc-heartbeat';

// The failures of the replication connection that a reconnect cures; SLOT_IN_USE right after a crash: the old
// walsender has not noticed its reader died yet; SOURCE_CREDENTIALS while a secret file is being rotated or the
// AWS credentials are being refreshed.
const RECONNECT_ON: readonly ErrorCode[] = [
  'REPLICATION_CONNECTION_LOST',
  'SOURCE_UNREACHABLE',
  'SOURCE_CREDENTIALS',
  'SLOT_IN_USE',
];
const isConnectionLost = (error: unknown): boolean => error instanceof PgCdcError && RECONNECT_ON.includes(error.code);

/**
 * The stream worker: reads the slot, assembles transactions into each table's spool, seals epochs, hands them to
 * the table actors, and acknowledges the slot only as far as every table has committed. Reconnects with bounded
 * exponential back-off; `stop()` ends it gracefully (in-flight epochs committed, then acknowledged).
 */
export class StreamRunner {
  readonly metrics: StreamMetrics;
  private readonly checkpoint = new Checkpoint();
  private readonly assembler: TransactionAssembler;
  private readonly committer: EpochCommitter;
  private readonly probe: SourceProbe;
  private readonly lateTables: LateTables | undefined;
  private readonly evolver: RelationEvolver;
  private stopping = false;
  private wake: (() => void) | undefined;
  private interruptRead: (() => void) | undefined;
  private fatal: Error | undefined;
  private lastActivityAt = Date.now();
  /** An epoch committed since the last acknowledgement: the next tick acknowledges, not the next second. */
  private committedSinceAck = false;

  constructor(private readonly options: StreamRunnerOptions) {
    this.metrics = options.metrics ?? new StreamMetrics();
    this.assembler = new TransactionAssembler(options.routes, {
      onCommit: ({ endLsn, tables, rows }) => {
        this.checkpoint.advanceTo(endLsn);
        this.metrics.transactions += 1;
        this.metrics.changes += rows;
        if (tables.length === 0) return;
        this.lastActivityAt = Date.now();
        // A transaction boundary is the one place an epoch may be sealed; under load the tick rarely lands on one.
        this.sealDue(tables);
      },
      onMessage: (lsn) => this.checkpoint.advanceTo(lsn),
      onUnroutedRelation: (schema, name) => this.lateTables?.unroutedRelation(schema, name),
    });
    const late = options.lateTables;
    this.lateTables =
      late &&
      new LateTables({
        config: options.config,
        source: options.source,
        routes: options.routes,
        lake: late.lake,
        onboarding: late.onboarding,
        log: options.log,
        routeChanged: (name) => this.assembler.routeChanged(name),
        readPosition: () => this.checkpoint.readPosition,
      });
    this.committer = new EpochCommitter(
      options.sink,
      options.log,
      (route, result) => {
        this.metrics.epochCommitted(route.table, result);
        this.committedSinceAck = true;
        // The open epoch may have been due for a while, held back only by this commit: seal it now rather than on
        // the next tick, so a table's commits follow each other without a gap.
        if (!this.assembler.inTransaction) this.sealDue([route]);
        this.wake?.();
      },
      (error) => {
        this.fatal = error instanceof Error ? error : new Error(String(error));
        this.stop();
      },
      (failure) => this.metrics.tableFailed(failure),
    );
    this.probe = new SourceProbe(options.source, options.config.replication.slot, options.log);
    this.evolver = new RelationEvolver(options.source, options.log);
  }

  stop(): void {
    this.stopping = true;
    this.wake?.();
    this.interruptRead?.();
  }

  /**
   * Ends the stream with `error` (what it hands epochs to cannot start): no further hand-over, nothing acknowledged
   * past what is committed; `run()` rejects with it.
   */
  abort(error: unknown): void {
    this.fatal ??= error instanceof Error ? error : new Error(String(error));
    this.committer.stop();
    this.stop();
  }

  async run(): Promise<void> {
    const { reconnect } = this.options.config.source.postgres;
    let attempt = 0;
    this.lateTables?.start();
    try {
      while (!this.stopping) {
        let stream: ReplicationStream | undefined;
        try {
          stream = await this.open();
          attempt = 0;
          await this.consume(stream);
          await this.finish(stream);
          return;
        } catch (error) {
          await stream?.close().catch(() => undefined);
          if (this.fatal !== undefined) throw this.fatal;
          if (!isConnectionLost(error) || this.stopping) throw error;
          this.assembler.reset();
          this.evolver.reset();
          // The server sends again what was not committed to a spool, in the columns it was written in: a table
          // whose columns changed inside a transaction it has not received whole goes back to its spool's.
          for (const route of this.options.routes.values()) {
            if (route.shape !== route.spool.currentShape) reshapeRoute(route, routeColumns(route.spool.currentShape));
          }
          attempt += 1;
          if (attempt > reconnect.max_attempts) throw new ReconnectExhaustedError(reconnect.max_attempts, error);
          const delay = Math.min(reconnect.initial_delay_sec * 2 ** (attempt - 1), reconnect.max_delay_sec) * 1000;
          this.metrics.reconnects += 1;
          this.options.log.warn(
            { attempt, of: reconnect.max_attempts, delayMs: delay, err: error },
            'replication connection lost; reconnecting',
          );
          await this.sleep(delay);
        }
      }
    } finally {
      this.lateTables?.stop();
      this.committer.stop();
      await this.probe.close();
      await this.evolver.close();
    }
    if (this.fatal !== undefined) throw this.fatal;
  }

  private open(): Promise<ReplicationStream> {
    const { config, source, log, protoVersion } = this.options;
    return ReplicationStream.open({
      settings: source,
      slot: config.replication.slot,
      publication: config.replication.publication,
      startLsn: ZERO_LSN,
      protoVersion,
      streaming: protoVersion >= 2,
      messages: true,
      log,
    });
  }

  private async consume(stream: ReplicationStream): Promise<void> {
    const { routes, config } = this.options;
    const iterator = stream[Symbol.asyncIterator]();
    // One promise per read, settled by the read or by stop(): racing every read against a long-lived "stopped"
    // promise would pile a reaction per message onto it, holding every message until the stream ends.
    const read = (): Promise<IteratorResult<StreamItem, unknown> | 'stop'> =>
      new Promise((resolve, reject) => {
        this.interruptRead = () => resolve('stop');
        iterator.next().then(resolve, reject);
      });
    let lastAck = 0;
    let lastStatus = 0;
    const tick = (): void => {
      const now = Date.now();
      if (!this.assembler.inTransaction) this.sealDue(routes.values());
      this.committer.pump(routes.values());
      // Once a second as the stream reads on, and right after a commit, which may move the position by a whole
      // epoch: a load that ends is acknowledged as soon as its last epoch is in the lake.
      if (this.committedSinceAck || now - lastAck >= ACK_EVERY_MS) {
        this.committedSinceAck = false;
        lastAck = now;
        const confirm = this.checkpoint.confirmable(routes.values());
        stream.acknowledge(confirm);
        this.metrics.confirmedLsn = formatLsn(confirm);
      }
      this.heartbeatIfIdle(now);
      if (now - lastStatus >= 1_000) {
        lastStatus = now;
        this.metrics.spoolBytes = this.spoolBytes();
        this.metrics.oldestWaitingCommitTime = this.oldestWaiting();
        this.metrics.readLsn = formatLsn(this.checkpoint.readPosition);
        this.probe.refresh(this.metrics, config.guardrail.max_retained_wal_bytes);
        this.options.onStatus?.(this.metrics);
      }
    };
    // A tick that throws (the spool's disk full, say) ends the stream with its error, as the read loop would.
    const timer = setInterval(() => {
      try {
        tick();
      } catch (error) {
        this.abort(error);
      }
    }, TICK_MS);
    let handled = 0;
    let lastYield = performance.now();
    try {
      for (;;) {
        let item = stream.poll();
        if (item === undefined) {
          await this.waitForSpoolRoom();
          if (this.stopping) return;
          const next = await read();
          if (next === 'stop') return;
          if (next.done) {
            throw new PgCdcError('REPLICATION_CONNECTION_LOST', 'the server ended the replication stream', {
              hint: 'reconnecting',
            });
          }
          item = next.value;
        }
        if (item.kind === 'xlog') {
          if (item.message.tag === 'relation') await this.relation(item.message);
          this.assembler.handle(item.message);
        } else if (!this.assembler.inTransaction) {
          this.checkpoint.advanceTo(item.walEnd);
        }
        // Events already received are taken without a promise each (with the worker's async hooks, a promise per
        // message cost more than decoding it). So yield every few milliseconds: timers (sealing, acknowledging,
        // heartbeats) keep running under a sustained load, and an epoch commit in this process, which awaits
        // hundreds of I/O completions, waits for each no longer than that. The spool bound is checked there too.
        if (++handled % YIELD_CHECK === 0 && performance.now() - lastYield >= YIELD_AFTER_MS) {
          tick();
          await new Promise<void>((resolve) => setImmediate(resolve));
          await this.waitForSpoolRoom();
          if (this.stopping) return;
          lastYield = performance.now();
        }
      }
    } finally {
      clearInterval(timer);
    }
  }

  /** Graceful end: drop a half-read transaction, seal what is open, commit it all, acknowledge, close. */
  private async finish(stream: ReplicationStream): Promise<void> {
    const routes = [...this.options.routes.values()];
    this.assembler.reset();
    for (const route of routes) route.spool.seal();
    // Bounded: an epoch whose commit is still retrying must not hold the exit. Nothing is lost by leaving it: it
    // stays sealed in the spool and unacknowledged, and the next start commits it.
    const drained = await Promise.race([
      this.committer.drain(routes).then(() => true),
      sleepMs(DRAIN_WAIT_MS).then(() => false),
    ]);
    if (!drained) {
      this.committer.stop();
      this.options.log.warn(
        { waitedMs: DRAIN_WAIT_MS },
        'stopping before every epoch committed; the rest stays sealed in the spool for the next start',
      );
    }
    if (this.fatal !== undefined) throw this.fatal;
    const confirm = this.checkpoint.confirmable(routes);
    stream.acknowledge(confirm);
    this.metrics.confirmedLsn = formatLsn(confirm);
    this.options.onStatus?.(this.metrics);
    // Everything that matters is committed and acknowledged; a server slow to end the copy must not hold the exit.
    const closed = await Promise.race([stream.close().then(() => true), sleepMs(CLOSE_WAIT_MS).then(() => false)]);
    if (!closed) this.options.log.warn({ waitedMs: CLOSE_WAIT_MS }, 'the replication connection did not close in time');
    const failed = this.committer.failures.map((f) => f.table);
    if (failed.length > 0) {
      this.options.log.warn(
        { confirmed: formatLsn(confirm), failed },
        'stream stopped; the failed tables keep their epochs in the spool, and the slot is held for them',
      );
    } else if (!drained) {
      this.options.log.warn(
        { confirmed: formatLsn(confirm) },
        'stream stopped; the epochs still committing stay sealed in the spool, and the slot is held for them',
      );
    } else {
      this.options.log.info({ confirmed: formatLsn(confirm) }, 'stream stopped; every read change is committed');
    }
  }

  /**
   * A Relation message, before the assembler sees it: when it changes a routed table's columns, the table's open
   * epoch is sealed (its rows have the old columns) and the rows after it go to epochs of the new shape, whose
   * commit evolves the table's schema first (docs/schema-evolution.md).
   */
  private async relation(message: RelationMessage): Promise<void> {
    const route = this.options.routes.get(`${message.schema}.${message.name}`);
    if (!route || route.haltedAt !== undefined || this.followsReconcile(route, message)) return;
    // A Relation inside a transaction the table has already describes columns the route has gone past: the route
    // starts (and stays, across reconnects) at the shape of the last transaction it took.
    if (this.assembler.replaysFor(route)) return;
    try {
      await this.followRelation(route, message);
    } catch (error) {
      // A change the stream cannot follow stops its table only; a lost connection is the stream's to cure.
      if (!(error instanceof PgCdcError) || isConnectionLost(error)) throw error;
      this.halt(route, error);
    }
  }

  /**
   * Stops one table before a change it cannot follow: the rows it has from before are kept (sealed, committed at
   * the next start), its rows from this transaction on are dropped, and the slot is held at this transaction, so
   * after the fix `pg-cdc start` reads it again. The other tables go on.
   */
  private halt(route: TableRoute, error: PgCdcError): void {
    route.haltedAt = this.assembler.currentCommitLsn ?? this.checkpoint.readPosition;
    this.assembler.dropRowsFor(route);
    route.spool.seal();
    this.committer.halt(route, route.haltedAt, error.code, error);
  }

  private async followRelation(route: TableRoute, message: RelationMessage): Promise<void> {
    const evolution = await this.evolver.evolution(route, message);
    // The key a Relation flags may change on its own (a new primary key, REPLICA IDENTITY USING INDEX): the epochs
    // after this point are identified by it, in a schema version whose identifier-field-ids follow it.
    const columns = evolution?.shape ?? route.shape;
    const key = keyAfterRelation(columns.source.primaryKey, message);
    if (!evolution && key === undefined) return;
    const shape = key === undefined ? columns : withPrimaryKey(columns, key, evolution === undefined);
    const changes = [
      ...(evolution ? describeChanges(evolution.changes) : []),
      ...(key === undefined ? [] : [describeKeyChange(columns.source.primaryKey, key)]),
    ];
    // The transaction being received wrote rows of the table before the ALTER: they keep their files and columns,
    // and its commit splits it over two epochs at this point (TableSpool.commitParts). Otherwise the open epoch
    // ends here, and the spool takes the new columns at once.
    // Planned before anything changes: a shape that cannot be planned (no columns left) stops the table here.
    const planned = routeColumns(shape);
    const split = this.assembler.hasRowsFor(route);
    const sealed = split ? undefined : route.spool.seal();
    if (!split) route.spool.reshape(shape);
    reshapeRoute(route, planned);
    this.options.log.info(
      { table: route.table, schemaId: shape.schemaId, changes, sealedEpoch: sealed?.batch.epoch, split },
      split
        ? 'columns changed between two writes of one transaction; it is split into epochs at this point'
        : 'columns changed; the epochs after this point carry the new schema',
    );
    this.metrics.schemaChanges += 1;
    if (sealed) this.committer.pump([route]);
    // Before any row of the new shape can reach the lake: a renamed column must not lose its classification.
    const registry = evolution ? openRegistryIfPresent(this.options.config) : undefined;
    if (registry && evolution) {
      try {
        const { database } = describeTarget(this.options.source.url ?? '');
        await recordColumnChanges(
          registry,
          database,
          route.table,
          evolution.shape.schemaId,
          evolution.changes,
          newColumnsPolicy(this.options.config),
        );
      } finally {
        await registry.close();
      }
    }
  }

  /**
   * A Relation of a transaction from before a `pg-cdc reconcile` of its table (reconcile.ts): the lake already has
   * the columns the catalog showed then, so the rows that follow are mapped onto the route's columns instead of
   * evolving the lake back. True when it was such a Relation.
   */
  private followsReconcile(route: TableRoute, message: RelationMessage): boolean {
    route.tupleMap = undefined;
    const reconciled = route.reconciled;
    if (!reconciled) return false;
    const lsn = this.assembler.currentCommitLsn ?? this.checkpoint.readPosition;
    if (lsn >= parseLsn(reconciled.atLsn)) {
      route.reconciled = undefined;
      return false;
    }
    if (sameRelation(route.shape, message.columns)) return true;
    if (sameRelation(reconciled.from, message.columns)) {
      route.tupleMap = reconciled.map;
    } else {
      // Columns between the two the reconcile knew (more than one ALTER while the stream was down): by name.
      const names = message.columns.map((column) => column.name);
      route.tupleMap = {
        from: route.source.columns.map((column) => names.indexOf(column.name)),
        missing: route.source.columns.map(() => null),
      };
      this.options.log.warn(
        { table: route.table, columns: names },
        'a transaction from before the reconcile, in columns it did not start from: matched by name',
      );
    }
    return true;
  }

  /** Seals each given table's open epoch that is due by time, rows or bytes, and starts its commit. */
  private sealDue(routes: Iterable<TableRoute>): void {
    const { flush } = this.options.config;
    const limits = { intervalMs: flush.interval_sec * 1000, maxRows: flush.max_rows, maxBytes: flush.max_bytes };
    const now = Date.now();
    const sealedAny: TableRoute[] = [];
    for (const route of routes) {
      if (!route.spool.due(now, limits)) continue;
      const sealed = route.spool.seal();
      if (!sealed) continue;
      sealedAny.push(route);
      this.options.log.debug({ table: route.table, epoch: sealed.batch.epoch, bytes: sealed.bytes }, 'epoch sealed');
    }
    if (sealedAny.length > 0) this.committer.pump(sealedAny);
  }

  private oldestWaiting(): string | undefined {
    let oldest: string | undefined;
    for (const route of this.options.routes.values()) {
      const time = route.spool.oldestUncommittedTime();
      if (time !== undefined && (oldest === undefined || time < oldest)) oldest = time;
    }
    return oldest;
  }

  private spoolBytes(): number {
    let total = 0;
    for (const route of this.options.routes.values()) total += route.spool.waitingBytes;
    return total;
  }

  /** Backpressure: while the spool holds more than spool.max_bytes waiting for the lake, reading pauses. */
  private async waitForSpoolRoom(): Promise<void> {
    const max = this.options.config.spool.max_bytes;
    if (this.spoolBytes() < max) return;
    const started = Date.now();
    this.options.log.info({ spoolBytes: this.spoolBytes(), max }, 'spool full; reading paused until epochs commit');
    while (!this.stopping && this.fatal === undefined && this.spoolBytes() >= max) {
      // A full spool made of open epochs must be sealed to drain: do it now rather than wait for the interval.
      if (!this.assembler.inTransaction) for (const route of this.options.routes.values()) route.spool.seal();
      this.committer.pump(this.options.routes.values());
      await this.sleep(100);
    }
    this.metrics.pausedMs += Date.now() - started;
  }

  private heartbeatIfIdle(now: number): void {
    const interval = this.options.config.replication.heartbeat_interval_sec * 1000;
    if (interval <= 0 || now - this.lastActivityAt < interval) return;
    this.lastActivityAt = now;
    this.probe.emitHeartbeat(HEARTBEAT_PREFIX);
    this.metrics.heartbeats += 1;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
