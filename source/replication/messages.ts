/**
 * The pgoutput logical replication messages (protocol versions 1 and 2), as PgoutputDecoder returns them. Values
 * stay PostgreSQL's text output: the type mapping that parses the snapshot's COPY text parses these too, so the
 * replication connection carries the same session settings as the snapshot (core/types/session.ts).
 */
import type { Lsn } from '../../core/lsn/index.js';

/** A TOASTed column an UPDATE did not change: pgoutput sends no value for it, the old value still holds. */
export const UNCHANGED_TOAST: unique symbol = Symbol('unchanged-toast');

export type TupleValue = string | null | typeof UNCHANGED_TOAST;

/** Tuple bounds: the start a NULL value has, and an unchanged TOAST value (neither has bytes). */
export const NULL_START = -1;
export const TOAST_START = -2;

/**
 * One value per column of the relation, in the relation message's column order, kept as the bytes pgoutput sent:
 * a value becomes a string only when asked for. The stream copies values straight from these bytes into its CSV
 * spool, so a change costs no string, and no garbage, per column.
 */
export class Tuple {
  /**
   * @param bytes holds the values' text, UTF-8, among other tuples' (a copy: the driver reuses its read buffer)
   * @param bounds start and end of each value in `bytes`, two numbers per column from `base` on, among other
   *   tuples' (one shared allocation for many tuples); a start of -1 is NULL and -2 an unchanged TOAST value
   * @param length the number of columns
   */
  constructor(
    readonly bytes: Buffer,
    private readonly bounds: Int32Array,
    private readonly base: number,
    readonly length: number,
  ) {}

  /** A tuple of the given values: how tests and tools make one without a server. */
  static of(values: readonly TupleValue[]): Tuple {
    const parts: Buffer[] = [];
    const bounds: number[] = [];
    let length = 0;
    for (const value of values) {
      if (value === null) bounds.push(NULL_START, NULL_START);
      else if (value === UNCHANGED_TOAST) bounds.push(TOAST_START, TOAST_START);
      else {
        const part = Buffer.from(value, 'utf8');
        bounds.push(length, length + part.length);
        parts.push(part);
        length += part.length;
      }
    }
    return new Tuple(Buffer.concat(parts), Int32Array.from(bounds), 0, values.length);
  }

  isNull(index: number): boolean {
    return this.bounds[this.base + 2 * index] === NULL_START;
  }

  isUnchangedToast(index: number): boolean {
    return this.bounds[this.base + 2 * index] === TOAST_START;
  }

  /** Byte range of a text value in `bytes` (meaningless for NULL and unchanged TOAST values). */
  start(index: number): number {
    return this.bounds[this.base + 2 * index]!;
  }

  end(index: number): number {
    return this.bounds[this.base + 2 * index + 1]!;
  }

  value(index: number): TupleValue {
    if (index < 0 || index >= this.length) return null;
    const start = this.bounds[this.base + 2 * index]!;
    if (start === NULL_START) return null;
    if (start === TOAST_START) return UNCHANGED_TOAST;
    return this.bytes.toString('utf8', start, this.bounds[this.base + 2 * index + 1]);
  }

  values(): TupleValue[] {
    return Array.from({ length: this.length }, (_, i) => this.value(i));
  }
}

export type ReplicaIdentity = 'd' | 'n' | 'f' | 'i';

export interface RelationColumn {
  readonly name: string;
  readonly typeOid: number;
  readonly typmod: number;
  /** Part of the replica identity (the primary key unless REPLICA IDENTITY says otherwise). */
  readonly isKey: boolean;
}

/**
 * Inside a stream_start .. stream_stop block (protocol 2, a transaction still in progress that outgrew
 * logical_decoding_work_mem) data messages carry the streamed transaction's xid.
 */
interface InStream {
  readonly xid?: number | undefined;
}

export interface BeginMessage {
  readonly tag: 'begin';
  /** The LSN of the commit record. */
  readonly finalLsn: Lsn;
  /** Unix epoch microseconds. */
  readonly commitTimeMicros: bigint;
  readonly xid: number;
}

export interface CommitMessage {
  readonly tag: 'commit';
  readonly flags: number;
  readonly commitLsn: Lsn;
  /** The end of the commit record: the position to confirm once the transaction is durable downstream. */
  readonly endLsn: Lsn;
  readonly commitTimeMicros: bigint;
}

export interface RelationMessage extends InStream {
  readonly tag: 'relation';
  readonly relationId: number;
  readonly schema: string;
  readonly name: string;
  readonly replicaIdentity: ReplicaIdentity;
  readonly columns: readonly RelationColumn[];
}

/** Sent before a relation that uses a type outside the built-in catalog (enums, domains, extension types). */
export interface TypeMessage extends InStream {
  readonly tag: 'type';
  readonly typeOid: number;
  readonly schema: string;
  readonly name: string;
}

export interface InsertMessage extends InStream {
  readonly tag: 'insert';
  readonly relationId: number;
  readonly newTuple: Tuple;
}

export interface UpdateMessage extends InStream {
  readonly tag: 'update';
  readonly relationId: number;
  /** The old replica identity columns ('K'), sent when the update changed them; other columns are null. */
  readonly keyTuple?: Tuple | undefined;
  /** The whole old row ('O'), sent for REPLICA IDENTITY FULL. */
  readonly oldTuple?: Tuple | undefined;
  readonly newTuple: Tuple;
}

export interface DeleteMessage extends InStream {
  readonly tag: 'delete';
  readonly relationId: number;
  readonly keyTuple?: Tuple | undefined;
  readonly oldTuple?: Tuple | undefined;
}

export interface TruncateMessage extends InStream {
  readonly tag: 'truncate';
  readonly relationIds: readonly number[];
  readonly cascade: boolean;
  readonly restartIdentity: boolean;
}

/** pg_logical_emit_message(); needs the `messages` option. */
export interface LogicalMessage extends InStream {
  readonly tag: 'message';
  readonly transactional: boolean;
  readonly lsn: Lsn;
  readonly prefix: string;
  readonly content: Buffer;
}

export interface OriginMessage {
  readonly tag: 'origin';
  readonly lsn: Lsn;
  readonly name: string;
}

export interface StreamStartMessage {
  readonly tag: 'stream_start';
  readonly xid: number;
  readonly firstSegment: boolean;
}

export interface StreamStopMessage {
  readonly tag: 'stream_stop';
}

export interface StreamCommitMessage {
  readonly tag: 'stream_commit';
  readonly xid: number;
  readonly flags: number;
  readonly commitLsn: Lsn;
  readonly endLsn: Lsn;
  readonly commitTimeMicros: bigint;
}

/** A streamed transaction, or one of its subtransactions (subXid !== xid), rolled back. */
export interface StreamAbortMessage {
  readonly tag: 'stream_abort';
  readonly xid: number;
  readonly subXid: number;
}

export type PgoutputMessage =
  | BeginMessage
  | CommitMessage
  | RelationMessage
  | TypeMessage
  | InsertMessage
  | UpdateMessage
  | DeleteMessage
  | TruncateMessage
  | LogicalMessage
  | OriginMessage
  | StreamStartMessage
  | StreamStopMessage
  | StreamCommitMessage
  | StreamAbortMessage;

export type PgoutputTag = PgoutputMessage['tag'];
