import { PgCdcError } from '../core/errors/index.js';
import { asLsn, type Lsn } from '../core/lsn/index.js';
import type { PgoutputMessage, Tuple } from '../source/replication/messages.js';
import type { TableShape } from '../core/types/evolution.js';
import type { CsvBytes } from './csv.js';
import { wireValue, type TableRoute } from './routes.js';
import type { ShapedKeys } from './spool.js';

/**
 * Transaction assembly: decoded pgoutput messages in, whole committed transactions out, written to the spool of
 * each table they touch. Rows are written to disk as they arrive, so a transaction of any size costs no memory; a
 * transaction becomes part of an epoch only at its commit, with its commit LSN and time.
 *
 * Protocol 1 sends each transaction whole after it committed (begin … commit). Protocol 2 with `streaming` also
 * sends large in-progress transactions in blocks (stream_start … stream_stop), interleaved, each change tagged with
 * its (sub)transaction's xid, then stream_commit or stream_abort (of the whole transaction, or of one
 * subtransaction, whose rows alone are dropped).
 */
interface Transaction {
  readonly xid: number;
  /** The commit LSN, which Begin announces (protocol 1); unknown for a streamed transaction until its commit. */
  readonly finalLsn?: Lsn;
  /** Spool keys per table, in first-write order, for this transaction's (sub)transactions. */
  readonly files: Map<TableRoute, string[]>;
  /** The columns each spool key's rows were written in: the route's shape when the file was started. */
  readonly shapes: Map<string, TableShape>;
  seq: number;
  /** The file the previous row went to. */
  lastFile?:
    { readonly route: TableRoute; readonly sub: number; readonly key: string; readonly shape: TableShape } | undefined;
}

export interface AssemblerEvents {
  /** A transaction committed (kept or skipped): everything up to `endLsn` has been read. */
  onCommit(info: { commitLsn: Lsn; endLsn: Lsn; tables: readonly TableRoute[]; rows: number }): void;
  /** A non-transactional message (our heartbeat): a position with nothing pending before it. */
  onMessage(lsn: Lsn, prefix: string): void;
  /** A relation with no route: a table published that the stream does not carry (yet). */
  onUnroutedRelation?(schema: string, name: string): void;
}

export class ProtocolError extends PgCdcError {
  constructor(message: string, context: Readonly<Record<string, string | number>>) {
    super('REPLICATION_PROTOCOL', message, {
      context,
      hint: 'the server sent messages out of order; restart `pg-cdc start` (nothing is acknowledged past the last commit)',
    });
  }
}

const microsToIso = (micros: bigint): string => {
  const seconds = micros / 1_000_000n;
  const fraction = String(micros % 1_000_000n).padStart(6, '0');
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${fraction}+00:00`;
};

export class TransactionAssembler {
  private readonly relations = new Map<number, TableRoute | null>();
  /** `schema.name` of each relation described, so a route added or removed later applies to it at once. */
  private readonly relationNames = new Map<number, string>();
  private current: Transaction | undefined;
  private streamXid: number | undefined;
  private readonly streamed = new Map<number, Transaction>();
  private fileCounter = 0;

  constructor(
    private readonly routes: ReadonlyMap<string, TableRoute>,
    private readonly events: AssemblerEvents,
  ) {}

  /** True while a transaction is half-received: epochs may not be sealed in the middle of one. */
  get inTransaction(): boolean {
    return this.current !== undefined;
  }

  get streamedTransactions(): number {
    return this.streamed.size;
  }

  /**
   * Whether the transaction being received is one `route` has already (its commit at or below skipThrough): the
   * server sends it again after a reconnect or restart, and what it describes is behind the route.
   */
  replaysFor(route: TableRoute): boolean {
    const lsn = this.streamXid === undefined ? this.current?.finalLsn : undefined;
    return lsn !== undefined && lsn <= route.skipThrough;
  }

  /** The commit LSN of the transaction being received, when the server announced it (protocol 1's Begin). */
  get currentCommitLsn(): Lsn | undefined {
    return this.streamXid === undefined ? this.current?.finalLsn : undefined;
  }

  /** Whether a transaction still being received has written rows for `route` (in the route's current shape). */
  hasRowsFor(route: TableRoute): boolean {
    return [this.current, ...this.streamed.values()].some((txn) => (txn?.files.get(route)?.length ?? 0) > 0);
  }

  handle(message: PgoutputMessage): void {
    switch (message.tag) {
      case 'begin':
        this.current = {
          xid: message.xid,
          finalLsn: asLsn(message.finalLsn),
          files: new Map(),
          shapes: new Map(),
          seq: 0,
        };
        return;
      case 'commit':
        this.finish(
          this.requireCurrent('commit'),
          asLsn(message.commitLsn),
          asLsn(message.endLsn),
          message.commitTimeMicros,
        );
        this.current = undefined;
        return;
      case 'relation': {
        // A change of the columns was applied to the route before this message got here (StreamRunner.relation).
        const name = `${message.schema}.${message.name}`;
        const route = this.routes.get(name) ?? null;
        if (!route) this.events.onUnroutedRelation?.(message.schema, message.name);
        this.relations.set(message.relationId, route);
        this.relationNames.set(message.relationId, name);
        return;
      }
      case 'insert':
        this.change(message.xid, message.relationId, 'I', undefined, message.newTuple);
        return;
      case 'update':
        this.change(message.xid, message.relationId, 'U', message.keyTuple ?? message.oldTuple, message.newTuple);
        return;
      case 'delete':
        this.change(message.xid, message.relationId, 'D', message.keyTuple ?? message.oldTuple, undefined);
        return;
      case 'truncate':
        for (const id of message.relationIds) this.change(message.xid, id, 'T', undefined, undefined);
        return;
      case 'message':
        if (!message.transactional) this.events.onMessage(asLsn(message.lsn), message.prefix);
        return;
      case 'stream_start':
        this.streamXid = message.xid;
        if (!this.streamed.has(message.xid))
          this.streamed.set(message.xid, { xid: message.xid, files: new Map(), shapes: new Map(), seq: 0 });
        return;
      case 'stream_stop':
        this.streamXid = undefined;
        return;
      case 'stream_commit': {
        const txn = this.streamed.get(message.xid);
        this.streamed.delete(message.xid);
        this.finish(
          txn ?? { xid: message.xid, files: new Map(), shapes: new Map(), seq: 0 },
          asLsn(message.commitLsn),
          asLsn(message.endLsn),
          message.commitTimeMicros,
        );
        return;
      }
      case 'stream_abort':
        this.abort(message.xid, message.subXid);
        return;
      case 'type':
      case 'origin':
        // Types come resolved from the catalog at start; origins matter only to multi-master setups.
        return;
    }
  }

  /** The route of `name` was added or removed (a table joined or was dropped while streaming). */
  routeChanged(name: string): void {
    const route = this.routes.get(name) ?? null;
    for (const [id, described] of this.relationNames) if (described === name) this.relations.set(id, route);
  }

  /** Forgets the rows of `route` in every transaction still being received (its table stopped). */
  dropRowsFor(route: TableRoute): void {
    for (const txn of [this.current, ...this.streamed.values()]) {
      if (!txn) continue;
      for (const key of txn.files.get(route) ?? []) route.spool.discard(key);
      txn.files.delete(route);
      if (txn.lastFile?.route === route) txn.lastFile = undefined;
    }
  }

  /** A lost connection: every half-received transaction is dropped (the server sends it again). */
  reset(): void {
    for (const txn of [this.current, ...this.streamed.values()]) {
      if (!txn) continue;
      for (const [route, keys] of txn.files) for (const key of keys) route.spool.discard(key);
    }
    this.current = undefined;
    this.streamed.clear();
    this.streamXid = undefined;
    this.relations.clear();
    this.relationNames.clear();
  }

  private requireCurrent(what: string): Transaction {
    if (!this.current) throw new ProtocolError(`${what} outside a transaction`, {});
    return this.current;
  }

  private transactionFor(xid: number | undefined): { txn: Transaction; sub: number } {
    if (this.streamXid !== undefined) {
      const txn = this.streamed.get(this.streamXid)!;
      return { txn, sub: xid ?? this.streamXid };
    }
    const txn = this.requireCurrent('a change');
    return { txn, sub: txn.xid };
  }

  private change(
    xid: number | undefined,
    relationId: number,
    op: string,
    old: Tuple | undefined,
    row: Tuple | undefined,
  ): void {
    const route = this.relations.get(relationId);
    if (route === undefined)
      throw new ProtocolError(`a change for relation ${relationId} before its description`, { relationId });
    if (route === null || route.haltedAt !== undefined) return;
    const { txn, sub } = this.transactionFor(xid);
    const csv = route.spool.beginRow(this.fileKey(txn, route, sub));
    writeRow(csv, route, txn.xid, txn.seq++, op, old, row);
    route.spool.endRow();
  }

  /** One spool file per (sub)transaction and table, so a subtransaction abort drops exactly its rows. */
  private fileKey(txn: Transaction, route: TableRoute, sub: number): string {
    // The common case, another row for the same table, subtransaction and columns, builds no string.
    const last = txn.lastFile;
    if (last && last.route === route && last.sub === sub && last.shape === route.shape) return last.key;
    const key = this.nextFileKey(txn, route, sub);
    txn.lastFile = { route, sub, key, shape: route.shape };
    return key;
  }

  private nextFileKey(txn: Transaction, route: TableRoute, sub: number): string {
    const prefix = `x${txn.xid}-s${sub}-`;
    let keys = txn.files.get(route);
    if (!keys) txn.files.set(route, (keys = []));
    const last = keys.at(-1);
    if (last?.startsWith(prefix) && txn.shapes.get(last) === route.shape) return last;
    // Rows of a subtransaction interleave with its parent's: a new file at each switch keeps every file to one
    // subtransaction (what an abort drops); rows carry the top-level xid, and _seq orders them across files. An
    // ALTER of the table between two writes starts a new file too: one file, one shape.
    const fresh = `${prefix}${++this.fileCounter}`;
    keys.push(fresh);
    txn.shapes.set(fresh, route.shape);
    return fresh;
  }

  private finish(txn: Transaction, commitLsn: Lsn, endLsn: Lsn, commitTimeMicros: bigint): void {
    const tables: TableRoute[] = [];
    let rows = 0;
    const commitTime = microsToIso(commitTimeMicros);
    for (const [route, keys] of txn.files) {
      if (commitLsn <= route.skipThrough) {
        for (const key of keys) route.spool.discard(key);
        continue;
      }
      const verdict = route.gate?.verdict(txn.xid, commitLsn) ?? 'apply';
      route.skipThrough = commitLsn;
      if (verdict === 'in-base') {
        for (const key of keys) route.spool.discard(key);
        continue;
      }
      const parts = shapedParts(keys, txn.shapes);
      if (verdict === 'hold') {
        route.gate!.hold(parts, { xid: txn.xid, commitLsn, commitTime });
        continue;
      }
      route.spool.commitParts(parts, { xid: txn.xid, commitLsn, commitTime });
      tables.push(route);
    }
    rows = txn.seq;
    this.events.onCommit({ commitLsn, endLsn, tables, rows });
  }

  private abort(xid: number, subXid: number): void {
    const txn = this.streamed.get(xid);
    if (!txn) return;
    if (subXid === xid) {
      for (const [route, keys] of txn.files) for (const key of keys) route.spool.discard(key);
      this.streamed.delete(xid);
      return;
    }
    const prefix = `x${xid}-s${subXid}-`;
    txn.lastFile = undefined;
    for (const [route, keys] of txn.files) {
      const kept = keys.filter((key) => {
        if (!key.startsWith(prefix)) return true;
        route.spool.discard(key);
        return false;
      });
      txn.files.set(route, kept);
    }
  }
}

/** A transaction's keys for one table, in write order, cut where the shape they were written in changes. */
function shapedParts(keys: readonly string[], shapes: ReadonlyMap<string, TableShape>): ShapedKeys[] {
  const parts: { shape: TableShape; keys: string[] }[] = [];
  for (const key of keys) {
    const shape = shapes.get(key)!;
    const last = parts.at(-1);
    if (last?.shape === shape) last.keys.push(key);
    else parts.push({ shape, keys: [key] });
  }
  return parts;
}

/**
 * One change as a CSV row: xid, seq, op, the field ids of unchanged TOAST values, the identity's old values, then
 * every column (the new row, or the old one for a delete). Text values are copied from the tuple's bytes.
 */
function writeRow(
  csv: CsvBytes,
  route: TableRoute,
  xid: number,
  seq: number,
  op: string,
  old: Tuple | undefined,
  row: Tuple | undefined,
): void {
  const columns = route.plan.columns;
  csv.integer(xid);
  csv.comma();
  csv.integer(seq);
  csv.comma();
  csv.asciiChar(op.charCodeAt(0));
  csv.comma();
  if (row) {
    const map = route.tupleMap;
    let unchanged: string | null = null;
    for (let i = 0; i < (map ? columns.length : row.length); i++) {
      const at = map ? map.from[i]! : i;
      if (at >= 0 && at < row.length && row.isUnchangedToast(at))
        unchanged = unchanged === null ? String(columns[i]!.fieldId) : `${unchanged} ${columns[i]!.fieldId}`;
    }
    if (unchanged !== null) csv.text(unchanged);
  }
  for (const index of route.identity) {
    csv.comma();
    if (old) writeValue(csv, route, index, old);
  }
  const source = row ?? old;
  for (let i = 0; i < columns.length; i++) {
    csv.comma();
    if (source) writeValue(csv, route, i, source);
  }
}

/**
 * A column's value, or nothing (NULL) when it is NULL, an unchanged TOAST value, or missing from the tuple (a
 * tuple in other columns, route.tupleMap: the value rows from before the column held, if any).
 */
function writeValue(csv: CsvBytes, route: TableRoute, index: number, tuple: Tuple): void {
  const map = route.tupleMap;
  const at = map ? map.from[index]! : index;
  const column = route.plan.columns[index]!;
  if (at < 0) {
    const missing = map!.missing[index];
    if (missing != null) csv.text(wireValue(column, route.source.columns[index]!.type.oid, missing)!);
    return;
  }
  if (at >= tuple.length || tuple.isNull(at) || tuple.isUnchangedToast(at)) return;
  if (column.wireForm === 'text') csv.utf8(tuple.bytes, tuple.start(at), tuple.end(at));
  else csv.text(wireValue(column, route.source.columns[index]!.type.oid, tuple.value(at) as string)!);
}
