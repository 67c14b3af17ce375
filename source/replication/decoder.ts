/**
 * pgoutput's binary messages → PgoutputMessage. Written for the hot path (an insert per row): the buffer is read by
 * offset, and a tuple is one copy of its values' bytes with their bounds; no value becomes a string here.
 */
import { PgoutputDecodeError } from './errors.js';
import type { Lsn } from '../../core/lsn/index.js';
import { readTimestamp, readUint64 } from './wire.js';
import {
  NULL_START,
  TOAST_START,
  Tuple,
  type PgoutputMessage,
  type RelationColumn,
  type ReplicaIdentity,
} from './messages.js';

// Message tags, tuple parts (new/key/old) and value kinds, as the bytes pgoutput writes.
const TAG_BEGIN = 0x42; // B
const TAG_COMMIT = 0x43; // C
const TAG_ORIGIN = 0x4f; // O
const TAG_RELATION = 0x52; // R
const TAG_TYPE = 0x59; // Y
const TAG_INSERT = 0x49; // I
const TAG_UPDATE = 0x55; // U
const TAG_DELETE = 0x44; // D
const TAG_TRUNCATE = 0x54; // T
const TAG_MESSAGE = 0x4d; // M
const TAG_STREAM_START = 0x53; // S
const TAG_STREAM_STOP = 0x45; // E
const TAG_STREAM_COMMIT = 0x63; // c
const TAG_STREAM_ABORT = 0x41; // A
const PART_NEW = 0x4e; // N
const PART_KEY = 0x4b; // K
const PART_OLD = 0x4f; // O
const VALUE_TEXT = 0x74; // t
const VALUE_NULL = 0x6e; // n
const VALUE_TOAST = 0x75; // u
const VALUE_BINARY = 0x62; // b

const EMPTY = Buffer.alloc(0);
const SLAB_BYTES = 256 * 1024;
/** Up to this many bytes a loop copies faster than a native call. */
const SHORT_COPY = 64;
// Value bounds of many tuples share one array (two entries per column), as their bytes share a slab.
const BOUNDS_SLAB_ENTRIES = 16 * 1024;

const IDENTITIES = new Set<string>(['d', 'n', 'f', 'i']);

const describeByte = (byte: number | undefined): string =>
  byte === undefined ? 'end of message' : `'${String.fromCharCode(byte)}' (0x${byte.toString(16).padStart(2, '0')})`;

export class PgoutputDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private streamXid: number | undefined;
  private slab = Buffer.allocUnsafe(SLAB_BYTES);
  private slabUsed = 0;
  private boundsSlab = new Int32Array(BOUNDS_SLAB_ENTRIES);
  private boundsUsed = 0;

  /** The xid of the streamed transaction whose stream_start .. stream_stop block is open, if one is. */
  get inStreamXid(): number | undefined {
    return this.streamXid;
  }

  /** Decode the pgoutput message that starts at `offset` and runs to the end of `buf`. */
  decode(buf: Buffer, offset = 0): PgoutputMessage {
    this.buf = buf;
    this.pos = offset + 1;
    const tag = buf[offset];
    try {
      return this.dispatch(tag);
    } catch (error) {
      if (error instanceof RangeError) {
        throw new PgoutputDecodeError(`pgoutput message ${describeByte(tag)} is cut short`, {
          length: buf.length - offset,
        });
      }
      throw error;
    }
  }

  private dispatch(tag: number | undefined): PgoutputMessage {
    switch (tag) {
      case TAG_INSERT: {
        const xid = this.xid();
        const relationId = this.u32();
        this.expect(PART_NEW, 'insert');
        const newTuple = this.tuple();
        return xid === undefined
          ? { tag: 'insert', relationId, newTuple }
          : { tag: 'insert', xid, relationId, newTuple };
      }
      case TAG_UPDATE:
        return this.update();
      case TAG_DELETE:
        return this.delete();
      case TAG_BEGIN:
        return { tag: 'begin', finalLsn: this.lsn(), commitTimeMicros: this.time(), xid: this.u32() };
      case TAG_COMMIT:
        return {
          tag: 'commit',
          flags: this.u8(),
          commitLsn: this.lsn(),
          endLsn: this.lsn(),
          commitTimeMicros: this.time(),
        };
      case TAG_RELATION:
        return this.relation();
      case TAG_TYPE: {
        const xid = this.xid();
        const message = { tag: 'type', typeOid: this.u32(), schema: this.cstring(), name: this.cstring() } as const;
        return xid === undefined ? message : { ...message, xid };
      }
      case TAG_TRUNCATE:
        return this.truncate();
      case TAG_MESSAGE:
        return this.logicalMessage();
      case TAG_ORIGIN:
        return { tag: 'origin', lsn: this.lsn(), name: this.cstring() };
      case TAG_STREAM_START: {
        const xid = this.u32();
        const firstSegment = this.u8() === 1;
        this.streamXid = xid;
        return { tag: 'stream_start', xid, firstSegment };
      }
      case TAG_STREAM_STOP:
        this.streamXid = undefined;
        return { tag: 'stream_stop' };
      case TAG_STREAM_COMMIT:
        return {
          tag: 'stream_commit',
          xid: this.u32(),
          flags: this.u8(),
          commitLsn: this.lsn(),
          endLsn: this.lsn(),
          commitTimeMicros: this.time(),
        };
      case TAG_STREAM_ABORT:
        return { tag: 'stream_abort', xid: this.u32(), subXid: this.u32() };
      case undefined:
      default:
        throw new PgoutputDecodeError(`unknown pgoutput message tag ${describeByte(tag)}`, {
          tag: tag === undefined ? undefined : String.fromCharCode(tag),
        });
    }
  }

  private update(): PgoutputMessage {
    const xid = this.xid();
    const relationId = this.u32();
    const part = this.u8();
    let keyTuple: Tuple | undefined;
    let oldTuple: Tuple | undefined;
    if (part === PART_KEY) keyTuple = this.tuple();
    else if (part === PART_OLD) oldTuple = this.tuple();
    else if (part !== PART_NEW) throw this.unexpected(part, 'update', "'K', 'O' or 'N'");
    if (part !== PART_NEW) this.expect(PART_NEW, 'update');
    const newTuple = this.tuple();
    const message = { tag: 'update', relationId, newTuple } as const;
    return {
      ...(xid === undefined ? message : { ...message, xid }),
      ...(keyTuple ? { keyTuple } : {}),
      ...(oldTuple ? { oldTuple } : {}),
    };
  }

  private delete(): PgoutputMessage {
    const xid = this.xid();
    const relationId = this.u32();
    const part = this.u8();
    if (part !== PART_KEY && part !== PART_OLD) throw this.unexpected(part, 'delete', "'K' or 'O'");
    const tuple = this.tuple();
    const message =
      part === PART_KEY
        ? ({ tag: 'delete', relationId, keyTuple: tuple } as const)
        : ({ tag: 'delete', relationId, oldTuple: tuple } as const);
    return xid === undefined ? message : { ...message, xid };
  }

  private relation(): PgoutputMessage {
    const xid = this.xid();
    const relationId = this.u32();
    const schema = this.cstring();
    const name = this.cstring();
    const identity = String.fromCharCode(this.u8());
    if (!IDENTITIES.has(identity)) throw this.unexpected(identity.charCodeAt(0), 'relation', 'a replica identity');
    const count = this.i16();
    const columns: RelationColumn[] = [];
    for (let i = 0; i < count; i++) {
      const isKey = (this.u8() & 1) === 1;
      columns.push({ name: this.cstring(), typeOid: this.u32(), typmod: this.i32(), isKey });
    }
    const message = {
      tag: 'relation',
      relationId,
      schema,
      name,
      replicaIdentity: identity as ReplicaIdentity,
      columns,
    } as const;
    return xid === undefined ? message : { ...message, xid };
  }

  private truncate(): PgoutputMessage {
    const xid = this.xid();
    const count = this.u32();
    const options = this.u8();
    const relationIds: number[] = [];
    for (let i = 0; i < count; i++) relationIds.push(this.u32());
    const message = {
      tag: 'truncate',
      relationIds,
      cascade: (options & 1) !== 0,
      restartIdentity: (options & 2) !== 0,
    } as const;
    return xid === undefined ? message : { ...message, xid };
  }

  private logicalMessage(): PgoutputMessage {
    const xid = this.xid();
    const transactional = (this.u8() & 1) === 1;
    const lsn = this.lsn();
    const prefix = this.cstring();
    const length = this.u32();
    const start = this.pos;
    this.need(length);
    this.pos += length;
    // A copy: the driver reuses its read buffer, and a message may be kept past the next socket read.
    const content = Buffer.from(this.buf.subarray(start, start + length));
    const message = { tag: 'message', transactional, lsn, prefix, content } as const;
    return xid === undefined ? message : { ...message, xid };
  }

  private tuple(): Tuple {
    const buf = this.buf;
    let pos = this.pos;
    const count = buf.readInt16BE(pos);
    pos += 2;
    // Value bounds are found first, then the whole run of values is copied once and the bounds made relative to it.
    const base = this.reserveBounds(2 * count);
    const bounds = this.boundsSlab;
    let first = -1;
    for (let i = 0, b = base; i < count; i++, b += 2) {
      const kind = buf[pos++];
      if (kind === VALUE_TEXT) {
        const length = buf.readInt32BE(pos);
        pos += 4;
        const end = pos + length;
        if (end > buf.length) throw new RangeError('value runs past the message');
        if (first < 0) first = pos;
        bounds[b] = pos - first;
        bounds[b + 1] = end - first;
        pos = end;
      } else if (kind === VALUE_NULL) {
        bounds[b] = bounds[b + 1] = NULL_START;
      } else if (kind === VALUE_TOAST) {
        bounds[b] = bounds[b + 1] = TOAST_START;
      } else if (kind === VALUE_BINARY) {
        throw new PgoutputDecodeError('pgoutput sent a binary column value; pg-cdc reads text values only', {
          column: i,
        });
      } else {
        this.pos = pos - 1;
        throw this.unexpected(kind, 'tuple', "'t', 'n' or 'u'");
      }
    }
    this.pos = pos;
    this.boundsUsed = base + 2 * count;
    if (first < 0) return new Tuple(EMPTY, bounds, base, count);
    const at = this.keep(first, pos);
    if (at > 0) for (let b = base; b < base + 2 * count; b++) if (bounds[b]! >= 0) bounds[b]! += at;
    return new Tuple(this.slab, bounds, base, count);
  }

  /** Where the next tuple's `entries` bounds go in the shared bounds slab, starting a new slab when it is full. */
  private reserveBounds(entries: number): number {
    if (this.boundsUsed + entries > this.boundsSlab.length) {
      this.boundsSlab = new Int32Array(Math.max(BOUNDS_SLAB_ENTRIES, entries));
      this.boundsUsed = 0;
    }
    return this.boundsUsed;
  }

  /**
   * Copies `buf[start, end)` to the end of the current slab, starting a new one when it is full, and returns where
   * it went: one shared allocation for many tuples instead of a Buffer each. Tuples keep their slab alive.
   */
  private keep(start: number, end: number): number {
    const length = end - start;
    if (this.slabUsed + length > this.slab.length) {
      this.slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, length));
      this.slabUsed = 0;
    }
    const at = this.slabUsed;
    const buf = this.buf;
    const slab = this.slab;
    if (length <= SHORT_COPY) for (let i = 0; i < length; i++) slab[at + i] = buf[start + i]!;
    else buf.copy(slab, at, start, end);
    this.slabUsed = at + length;
    return at;
  }

  /** The leading xid data messages carry inside a stream block. */
  private xid(): number | undefined {
    return this.streamXid === undefined ? undefined : this.u32();
  }

  private expect(byte: number, what: string): void {
    const got = this.u8();
    if (got !== byte) throw this.unexpected(got, what, describeByte(byte));
  }

  private unexpected(byte: number | undefined, what: string, wanted: string): PgoutputDecodeError {
    return new PgoutputDecodeError(
      `malformed pgoutput ${what} message: ${describeByte(byte)} where ${wanted} belongs`,
      {
        offset: this.pos - 1,
      },
    );
  }

  private need(length: number): void {
    if (this.pos + length > this.buf.length) throw new RangeError('field runs past the message');
  }

  private u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  private i16(): number {
    const value = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return value;
  }

  private i32(): number {
    const value = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return value;
  }

  private u32(): number {
    const value = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return value;
  }

  private lsn(): Lsn {
    this.need(8);
    const value = readUint64(this.buf, this.pos);
    this.pos += 8;
    return value as Lsn;
  }

  private time(): bigint {
    this.need(8);
    const value = readTimestamp(this.buf, this.pos);
    this.pos += 8;
    return value;
  }

  private cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new RangeError('string without its terminating zero');
    const value = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return value;
  }
}
