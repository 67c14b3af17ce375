import { closeSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ChangeBatch, CommittedTransaction } from '../lake/state/types.js';
import { formatLsn, parseLsn, type Lsn } from '../core/lsn/index.js';
import { CsvBytes } from './csv.js';
import type { TableShape } from '../core/types/evolution.js';
import {
  epochDir,
  readSavedBatch,
  saveBatch,
  saveCommittedShape,
  spoolWriteError,
  toChangeBatch,
  type SavedBatch,
} from './spool-files.js';

/**
 * One table's spool: the changes read from the slot that are not in the lake yet, on local disk.
 *
 *   <dir>/pending/<txn>.csv   rows of a transaction still being received (or of one aborted subtransaction)
 *   <dir>/open/               committed transactions of the epoch being gathered: small ones appended to one
 *                             segment file, large ones (already on disk) moved in as their own files
 *   <dir>/e<epoch>/           a sealed epoch: its CSVs and batch.json, handed to the table's actor
 *
 * Every row carries its transaction's xid, so the lake orders rows by transaction whatever file they are in: an
 * epoch of thousands of small transactions is one file to read, not thousands.
 *
 * Sealed epochs survive a restart and are handed over again (their commit is idempotent). Pending and open files
 * do not: nothing in them was acknowledged to the server, which sends those transactions again.
 */
export interface SealedEpoch {
  readonly batch: ChangeBatch;
  /** The columns its CSVs were written with (undefined: sealed by an older version, the committed shape). */
  readonly shape: TableShape | undefined;
  readonly dir: string;
  readonly bytes: number;
  readonly firstCommitLsn: Lsn;
  readonly lastCommitLsn: Lsn;
}

interface PendingFile {
  readonly path: string;
  fd: number | undefined;
  /** Rows not yet written to the file. */
  readonly buffer: CsvBytes;
  rows: number;
  /** Bytes written to the file. */
  bytes: number;
  /** Bytes of its longest row: what a reader of the file must hold at once. */
  longestRow: number;
}

interface OpenTransaction extends CommittedTransaction {
  readonly lsn: Lsn;
}

/** Spool files of one committed transaction for one table whose rows were written in one shape, in write order. */
export interface ShapedKeys {
  readonly shape: TableShape;
  readonly keys: readonly string[];
}

/** Whether two shapes describe the same columns (the same object, unless it went through a restart). */
const sameShape = (a: TableShape, b: TableShape): boolean =>
  a === b || (a.schemaId === b.schemaId && JSON.stringify(a) === JSON.stringify(b));

type Continuation = Pick<CommittedTransaction, 'continued' | 'continues'>;

const SEGMENT = 'segment.csv';

const FLUSH_AT = 256 * 1024;
const SPARE_BUFFERS = 8;

export class TableSpool {
  private readonly pending = new Map<string, PendingFile>();
  private open: OpenTransaction[] = [];
  /** Names, in `open/`, of the large transactions' own files. */
  private openFiles: string[] = [];
  private segment: PendingFile;
  /** The pending file beginRow handed out, until endRow. */
  private writing: PendingFile | undefined;
  /** Buffers of finished transactions, reused: most transactions are small and follow one another. */
  private readonly spareBuffers: CsvBytes[] = [];
  private openedAt: number | undefined;
  private openBytes = 0;
  private openLongestRow = 0;
  /** Where the row beginRow handed out starts in its buffer. */
  private rowStart = 0;
  private fileCounter = 0;
  private readonly sealedQueue: SealedEpoch[] = [];
  private nextEpoch: number;

  constructor(
    readonly table: string,
    private readonly dir: string,
    committedEpoch: number,
    /** The columns of the rows going into the open epoch: set by reshape(), between two epochs. */
    private shape: TableShape,
  ) {
    this.nextEpoch = committedEpoch + 1;
    mkdirSync(join(dir, 'pending'), { recursive: true });
    mkdirSync(join(dir, 'open'), { recursive: true });
    this.segment = this.freshSegment();
  }

  private freshSegment(): PendingFile {
    return {
      path: join(this.dir, 'open', SEGMENT),
      fd: undefined,
      buffer: new CsvBytes(FLUSH_AT),
      rows: 0,
      bytes: 0,
      longestRow: 0,
    };
  }

  /** Starts an empty open epoch; whatever the segment still buffered is dropped (seal writes it out first). */
  private clearOpen(): void {
    if (this.segment.fd !== undefined) closeSync(this.segment.fd);
    this.segment = this.freshSegment();
    this.open = [];
    this.openFiles = [];
    this.openBytes = 0;
    this.openLongestRow = 0;
    this.openedAt = undefined;
  }

  /** Sealed epochs left by an earlier run above `committedEpoch`, in order; everything else is cleared. */
  recover(committedEpoch: number): SealedEpoch[] {
    this.clearOpen();
    rmSync(join(this.dir, 'pending'), { recursive: true, force: true });
    rmSync(join(this.dir, 'open'), { recursive: true, force: true });
    mkdirSync(join(this.dir, 'pending'), { recursive: true });
    mkdirSync(join(this.dir, 'open'), { recursive: true });
    const found: SealedEpoch[] = [];
    const epochs = readdirSync(this.dir)
      .map((name) => /^e(\d+)$/.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    for (const epoch of epochs) {
      const dir = epochDir(this.dir, epoch);
      const saved = readSavedBatch(dir);
      // An epoch saved in an older layout (no file list) is dropped like a torn one: it was never acknowledged,
      // so the server sends its transactions again.
      if (
        !saved ||
        !Array.isArray(saved.files) ||
        epoch <= committedEpoch ||
        epoch !== (found.at(-1)?.batch.epoch ?? committedEpoch) + 1
      ) {
        rmSync(dir, { recursive: true, force: true });
        continue;
      }
      found.push(fromSaved(saved, dir));
    }
    // A transaction split at an ALTER is sealed into its epochs at once; an epoch whose continuation is missing
    // (a crash between the two seals) was never acknowledged either, and goes with it.
    while (found.at(-1)?.batch.transactions.at(-1)?.continues)
      rmSync(found.pop()!.dir, { recursive: true, force: true });
    this.sealedQueue.push(...found);
    this.nextEpoch = (found.at(-1)?.batch.epoch ?? committedEpoch) + 1;
    return found;
  }

  /**
   * Rows from now on carry `shape`. The open epoch must be empty (sealed first): an epoch's CSVs have one shape.
   */
  reshape(shape: TableShape): void {
    if (this.open.length > 0) throw new Error(`reshape of ${this.table} with an open epoch; seal it first`);
    this.shape = shape;
  }

  /** The CSV to write one row of a transaction's file into; endRow() follows once the row is written. */
  beginRow(txnKey: string): CsvBytes {
    let file = this.pending.get(txnKey);
    if (!file) {
      const path = join(this.dir, 'pending', `${txnKey}.csv`);
      const buffer = this.spareBuffers.pop() ?? new CsvBytes();
      file = { path, fd: undefined, buffer, rows: 0, bytes: 0, longestRow: 0 };
      this.pending.set(txnKey, file);
    }
    this.writing = file;
    this.rowStart = file.buffer.length;
    return file.buffer;
  }

  endRow(): void {
    const file = this.writing;
    if (!file) throw new Error('endRow without beginRow');
    this.writing = undefined;
    file.buffer.endRow();
    file.rows += 1;
    file.longestRow = Math.max(file.longestRow, file.buffer.length - this.rowStart);
    if (file.buffer.length >= FLUSH_AT) flush(file);
  }

  hasPending(txnKey: string): boolean {
    return this.pending.has(txnKey);
  }

  /** Memory held by the spool's buffers (rows not yet written out, and spare buffers kept for reuse). */
  get bufferedBytes(): number {
    let total = this.segment.buffer.capacity;
    for (const file of this.pending.values()) total += file.buffer.capacity;
    for (const buffer of this.spareBuffers) total += buffer.capacity;
    return total;
  }

  get pendingBytes(): number {
    let total = 0;
    for (const file of this.pending.values()) total += file.bytes + file.buffer.length;
    return total;
  }

  /** Forgets a pending transaction's rows (an abort, a skipped transaction, a lost connection). */
  discard(txnKey: string): void {
    const file = this.pending.get(txnKey);
    if (!file) return;
    if (file.fd !== undefined) closeSync(file.fd);
    rmSync(file.path, { force: true });
    this.pending.delete(txnKey);
    this.recycle(file.buffer);
  }

  private recycle(buffer: CsvBytes): void {
    buffer.clear();
    if (this.spareBuffers.length < SPARE_BUFFERS) this.spareBuffers.push(buffer);
  }

  discardAllPending(): void {
    for (const key of [...this.pending.keys()]) this.discard(key);
  }

  /** Moves a committed transaction's rows, written in the open epoch's shape, into the open epoch. */
  commit(txnKeys: readonly string[], meta: TransactionMeta): void {
    this.commitParts([{ shape: this.shape, keys: txnKeys }], meta);
  }

  /**
   * Moves a committed transaction's rows into the open epoch, part by part in the shapes they were written in. A
   * part in other columns than the open epoch's seals it first and opens one in the part's columns. A transaction
   * whose rows are in two shapes (an ALTER between its writes) is split over consecutive epochs, each sealed at
   * once: the first part of the split must never reach the lake while the rest is only in memory, or a restart
   * would skip the transaction as committed (docs/schema-evolution.md).
   */
  commitParts(parts: readonly ShapedKeys[], meta: TransactionMeta): void {
    const written = parts.filter((part) => part.keys.some((key) => this.pending.has(key)));
    written.forEach((part, i) => {
      if (!sameShape(part.shape, this.shape)) {
        this.seal();
        this.shape = part.shape;
      }
      this.append(part.keys, meta, {
        ...(i > 0 ? { continued: true } : {}),
        ...(i < written.length - 1 ? { continues: true } : {}),
      });
    });
    if (written.length > 1) this.seal();
  }

  /**
   * Appends a transaction's rows to the open epoch: rows still in memory go to the epoch's segment file; files
   * already on disk (a large or streamed transaction) are moved in whole.
   */
  private append(txnKeys: readonly string[], meta: TransactionMeta, continuation: Continuation): void {
    let rows = 0;
    for (const key of txnKeys) {
      const file = this.pending.get(key);
      if (!file) continue;
      this.pending.delete(key);
      rows += file.rows;
      this.openLongestRow = Math.max(this.openLongestRow, file.longestRow);
      if (file.fd === undefined) {
        this.segment.buffer.append(file.buffer);
        this.openBytes += file.buffer.length;
        this.recycle(file.buffer);
        if (this.segment.buffer.length >= FLUSH_AT) flush(this.segment);
        continue;
      }
      flush(file);
      this.recycle(file.buffer);
      closeSync(file.fd);
      file.fd = undefined;
      const name = `t${String(++this.fileCounter).padStart(9, '0')}.csv`;
      renameSync(file.path, join(this.dir, 'open', name));
      this.openFiles.push(name);
      this.openBytes += file.bytes;
    }
    if (rows === 0) return;
    this.openedAt ??= Date.now();
    this.open.push({
      xid: String(meta.xid),
      commitLsn: formatLsn(meta.commitLsn),
      commitTime: meta.commitTime,
      rows,
      ...continuation,
      lsn: meta.commitLsn,
    });
  }

  private closeSegment(): void {
    flush(this.segment);
    if (this.segment.fd !== undefined) closeSync(this.segment.fd);
    this.segment.fd = undefined;
  }

  get openRows(): number {
    return this.open.reduce((n, t) => n + t.rows, 0);
  }

  /**
   * True when the open epoch is due by time, rows or bytes. Group commit: while an earlier epoch of this table is
   * still being committed, the open one keeps growing (up to max_bytes), so a slow lake gets fewer, larger epochs
   * rather than a queue of small ones each paying the fixed cost of a commit.
   */
  due(now: number, limits: { intervalMs: number; maxRows: number; maxBytes: number }): boolean {
    if (this.open.length === 0 || this.openedAt === undefined) return false;
    if (this.sealedQueue.length > 0 && this.openBytes < limits.maxBytes) return false;
    return (
      now - this.openedAt >= limits.intervalMs || this.openRows >= limits.maxRows || this.openBytes >= limits.maxBytes
    );
  }

  /** Seals the open transactions as the next epoch (renaming the directory) and queues it. */
  seal(): SealedEpoch | undefined {
    if (this.open.length === 0) return undefined;
    this.closeSegment();
    const names = [...(this.segment.bytes > 0 ? [SEGMENT] : []), ...this.openFiles];
    const epoch = this.nextEpoch++;
    const dir = epochDir(this.dir, epoch);
    renameSync(join(this.dir, 'open'), dir);
    mkdirSync(join(this.dir, 'open'), { recursive: true });
    const transactions = this.open.map(({ lsn: _lsn, ...transaction }) => transaction);
    const saved: SavedBatch = {
      table: this.table,
      epoch,
      bytes: this.openBytes,
      longestRow: this.openLongestRow,
      files: names,
      transactions,
      shape: this.shape,
    };
    saveBatch(dir, saved);
    const sealed: SealedEpoch = {
      batch: toChangeBatch(saved, dir),
      shape: this.shape,
      dir,
      bytes: this.openBytes,
      firstCommitLsn: this.open[0]!.lsn,
      lastCommitLsn: this.open.at(-1)!.lsn,
    };
    this.sealedQueue.push(sealed);
    this.clearOpen();
    return sealed;
  }

  /** The oldest sealed epoch not yet committed. */
  peekSealed(): SealedEpoch | undefined {
    return this.sealedQueue[0];
  }

  /** The epoch is in the lake: its files go, and its shape is the lake's now. */
  committed(epoch: number): void {
    const head = this.sealedQueue[0];
    if (!head || head.batch.epoch !== epoch) return;
    this.sealedQueue.shift();
    if (head.shape) saveCommittedShape(this.dir, head.shape);
    rmSync(head.dir, { recursive: true, force: true });
  }

  /** Commit LSN of the oldest transaction here that is not in the lake (sealed or open), if any. */
  oldestUncommittedLsn(): Lsn | undefined {
    return this.sealedQueue[0]?.firstCommitLsn ?? this.open[0]?.lsn;
  }

  /** Source commit time of that transaction: how old the oldest change not yet queryable is. */
  oldestUncommittedTime(): string | undefined {
    return this.sealedQueue[0]?.batch.transactions[0]?.commitTime ?? this.open[0]?.commitTime;
  }

  /** Bytes of committed transactions waiting for the lake: what the spool bound counts. */
  get waitingBytes(): number {
    return this.openBytes + this.sealedQueue.reduce((n, s) => n + s.bytes, 0);
  }

  get sealedCount(): number {
    return this.sealedQueue.length;
  }

  /** The columns of the rows going into the open epoch. */
  get currentShape(): TableShape {
    return this.shape;
  }

  /** The number the next sealed epoch gets. */
  get nextEpochNumber(): number {
    return this.nextEpoch;
  }

  get hasOpen(): boolean {
    return this.open.length > 0;
  }
}

export interface TransactionMeta {
  readonly xid: number;
  readonly commitLsn: Lsn;
  readonly commitTime: string;
}

function fromSaved(saved: SavedBatch, dir: string): SealedEpoch {
  const batch = toChangeBatch(saved, dir);
  const first = batch.transactions[0];
  const last = batch.transactions.at(-1);
  if (!first || !last) throw new Error(`sealed epoch ${dir} has no transactions`);
  return {
    batch,
    shape: saved.shape,
    dir,
    bytes: saved.bytes,
    firstCommitLsn: parseLsn(first.commitLsn),
    lastCommitLsn: parseLsn(last.commitLsn),
  };
}

function flush(file: PendingFile): void {
  if (file.buffer.length === 0) return;
  const bytes = file.buffer.bytes;
  try {
    file.fd ??= openSync(file.path, 'a');
    for (let written = 0; written < bytes.length;) written += writeSync(file.fd, bytes, written);
  } catch (error) {
    throw spoolWriteError(error, file.path);
  }
  file.bytes += bytes.length;
  file.buffer.clear();
}
