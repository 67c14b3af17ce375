/**
 * `COPY … TO STDOUT` as a byte stream, read straight off the connection's socket. pg hands every protocol message to
 * JavaScript as an object; for a copy of millions of rows that is millions of allocations, so while the copy runs
 * this takes the socket over, strips the 5-byte CopyData headers in one pass and passes the rows on in large
 * buffers. The rows are first moved over the headers inside each read's own buffer (socket reads are never reused),
 * then the reads are joined in one copy: copying row by row into an output buffer cost three times the CPU, a
 * Uint8Array view per row. Everything after CopyDone (CommandComplete, ReadyForQuery) and any ErrorResponse go back
 * to pg.
 */
import { Readable } from 'node:stream';
import type pg from 'pg';
import { PgCdcError } from '../../core/errors/index.js';
import {
  COPY_DATA,
  COPY_DONE,
  ERROR_RESPONSE,
  MESSAGE_HEADER,
  SocketReader,
  type PgSocketOwner,
} from '../socket-reader.js';

// Rows are passed on in pieces of at least this size. The server sends about 8 KiB at a time, and a socket read
// that keeps up gets little more; one pipe write per read cost more CPU than all the framing.
const OUTPUT_BYTES = 256 * 1024;

/** A row longer than the reader was asked to accept; the copy has run to its end and the connection is usable. */
export class CopyRowTooLongError extends PgCdcError {
  constructor(
    readonly rowBytes: number,
    readonly limit: number,
    table?: string,
  ) {
    const where = table ? ` in ${table}` : '';
    super('ROW_TOO_LONG', `a row of ${rowBytes} bytes${where} is longer than the ${limit} bytes accepted`, {
      context: { rowBytes, limit, ...(table ? { table } : {}) },
      hint: 'rows are read whole into the Parquet writer; a row this long cannot be snapshotted',
    });
  }
}

export interface CopyOutOptions {
  /** The longest row (CSV record) accepted, in bytes: a longer one fails the copy with CopyRowTooLongError. */
  readonly maxRowBytes?: number;
}

interface PgConnection extends PgSocketOwner {
  query(text: string): void;
}

export class CopyOutStream extends Readable implements pg.Submittable {
  /** Rows the server reports having copied, set once the copy has completed. */
  rowCount = 0;
  /** Rows received so far (one CopyData message each), for progress while the copy runs. */
  rowsReceived = 0;
  private socket: SocketReader | undefined;
  // Protocol state: the bytes of a header split across socket reads, then the current message's code and the bytes
  // of its body still to come.
  private header = Buffer.alloc(MESSAGE_HEADER);
  private headerBytes = 0;
  private code = 0;
  private remaining = 0;
  // Rows of earlier socket reads not yet passed on: views of those reads' buffers.
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly maxRowBytes: number;
  // Set when a row is too long: the rest of the copy is read and dropped, and the error raised once it has ended.
  private failure: Error | undefined;

  constructor(
    private readonly text: string,
    options: CopyOutOptions = {},
  ) {
    super({ highWaterMark: 4 * OUTPUT_BYTES });
    this.maxRowBytes = options.maxRowBytes ?? Number.POSITIVE_INFINITY;
  }

  submit(connection: unknown): void {
    const con = connection as PgConnection;
    this.socket = SocketReader.take(con, (chunk) => this.parse(chunk));
    con.query(this.text);
  }

  override _read(): void {
    this.socket?.resume();
  }

  // Destroyed by its reader before the copy ended: keep reading and dropping the rest, so the connection gets back
  // to pg in a usable state.
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.socket?.reading) this.socket.resume();
    callback(error);
  }

  handleError(error: Error): void {
    this.destroy(error);
  }

  handleCommandComplete(message: { text?: string }): void {
    const match = /^COPY (\d+)/.exec(message.text ?? '');
    if (match) this.rowCount = Number(match[1]);
  }

  handleReadyForQuery(): void {}

  private parse(chunk: Buffer): void {
    // Rows are moved down over the headers within the chunk itself: `kept` is where the next row's bytes go. The
    // bytes from `at` on are never written, so what is handed back to pg is intact.
    let at = 0;
    let kept = 0;
    while (at < chunk.length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - at);
        if (this.code === COPY_DATA) {
          if (kept !== at) chunk.copyWithin(kept, at, at + n);
          kept += n;
        }
        at += n;
        this.remaining -= n;
        continue;
      }
      // Between messages: read a header, which may arrive split across socket reads.
      let headerAt = at;
      if (this.headerBytes === 0 && chunk.length - at >= MESSAGE_HEADER) {
        this.code = chunk[at]!;
        this.remaining = chunk.readUInt32BE(at + 1) - 4;
        at += MESSAGE_HEADER;
      } else {
        const take = Math.min(MESSAGE_HEADER - this.headerBytes, chunk.length - at);
        chunk.copy(this.header, this.headerBytes, at, at + take);
        this.headerBytes += take;
        at += take;
        if (this.headerBytes < MESSAGE_HEADER) break;
        this.headerBytes = 0;
        this.code = this.header.readUInt8(0);
        this.remaining = this.header.readUInt32BE(1) - 4;
        headerAt = -1;
      }
      if (this.code === ERROR_RESPONSE) {
        // pg reads the error itself (and the ReadyForQuery after it) and reports it through handleError.
        this.socket?.handBack(
          headerAt >= 0 ? chunk.subarray(headerAt) : Buffer.concat([this.header, chunk.subarray(at)]),
        );
        return;
      }
      if (this.code === COPY_DONE) {
        // The last rows go out before pg gets the socket back: passing them on may pause it, and handBack resumes.
        if (!this.failure && !this.destroyed) {
          this.keep(chunk, kept);
          this.flush();
          this.push(null);
        }
        this.socket?.handBack(chunk.subarray(at));
        if (this.failure && !this.destroyed) this.destroy(this.failure);
        return;
      }
      if (this.code === COPY_DATA) {
        this.rowsReceived++;
        if (this.remaining > this.maxRowBytes && !this.failure) {
          this.failure = new CopyRowTooLongError(this.remaining, this.maxRowBytes);
        }
      }
    }
    this.keep(chunk, kept);
    if (this.pendingBytes >= OUTPUT_BYTES) this.flush();
  }

  private keep(chunk: Buffer, rowBytes: number): void {
    if (rowBytes === 0 || this.failure || this.destroyed) return;
    this.pending.push(chunk.subarray(0, rowBytes));
    this.pendingBytes += rowBytes;
  }

  private flush(): void {
    if (this.pendingBytes === 0) return;
    const rows = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    // Backpressure: the socket waits until the reader asks for more (_read).
    if (!this.push(rows)) this.socket?.pause();
  }
}

/** A `COPY (…) TO STDOUT` statement as a stream of its output bytes; pass it to `client.query`. */
export const copyOut = (text: string, options?: CopyOutOptions): CopyOutStream => new CopyOutStream(text, options);
