/**
 * node-postgres has no CopyBoth API. This is the smallest piece that gives it one: a Submittable that sends the
 * START_REPLICATION query and receives what the client routes to its active query (errors, the end of the
 * command), plus the driver calls the typings leave out for writing copy data back.
 *
 * CopyData, one message per WAL change, is read straight off the socket: pg would build a message object and emit
 * an event for each, a large share of the stream's allocations. While the query runs this reads the socket itself,
 * hands every CopyData payload to the handlers, passes any other message to pg whole, and gives the socket back
 * to pg at the end of the command (the first message after the server's CopyDone that is not CopyData) or at an
 * ErrorResponse.
 */
import type { Duplex } from 'node:stream';
import type pg from 'pg';
import { COPY_DATA, COPY_DONE, ERROR_RESPONSE, MESSAGE_HEADER, SocketReader } from '../socket-reader.js';

/** The parts of pg's Connection this module uses; `sendCopyFromChunk` wraps a buffer in a CopyData message. */
export interface CopyBothConnection {
  readonly stream: Duplex;
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
  once(event: 'replicationStart', listener: () => void): unknown;
  removeListener(event: 'replicationStart', listener: () => void): unknown;
}

export const copyBothConnection = (client: pg.Client): CopyBothConnection =>
  client.connection as unknown as CopyBothConnection;

export interface CopyBothHandlers {
  /** The server switched to CopyBoth (its CopyBothResponse, which pg reports as 'replicationStart'). */
  started(): void;
  /** One CopyData payload. The buffer is the reader's and is reused after this call returns. */
  data(chunk: Buffer): void;
  /** An ErrorResponse, or the client's own error when the connection ended. */
  failed(error: unknown): void;
  /** The command completed and the connection is ready for another query: after our CopyDone. */
  finished(): void;
}

/** Submitted with `client.query(new CopyBothQuery(...))`; pg calls the handle* methods while it is active. */
export class CopyBothQuery implements pg.Submittable {
  private readonly onStart = (): void => this.handlers.started();
  private connection: CopyBothConnection | undefined;
  private socket: SocketReader | undefined;
  /** Bytes of a message not complete yet, in rest[0, restLength); grown by doubling, so a long message costs O(n). */
  private rest = Buffer.alloc(0);
  private restLength = 0;
  /** The server sent CopyDone: CopyData after it is not passed on, and the next other message ends our reading. */
  private serverDone = false;

  constructor(
    private readonly text: string,
    private readonly handlers: CopyBothHandlers,
  ) {}

  submit(connection: pg.Connection): void {
    const con = connection as unknown as CopyBothConnection;
    this.connection = con;
    this.socket = SocketReader.take(con, (chunk) => this.read(chunk));
    con.once('replicationStart', this.onStart);
    con.query(this.text);
  }

  handleError(error: unknown): void {
    this.detach();
    this.handlers.failed(error);
  }

  handleReadyForQuery(): void {
    this.detach();
    this.handlers.finished();
  }

  handleCopyInResponse(connection: CopyBothConnection): void {
    connection.sendCopyFail('pg-cdc expected CopyBoth, not COPY FROM STDIN');
  }

  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}

  private read(chunk: Buffer): void {
    let buf = chunk;
    let end = chunk.length;
    if (this.restLength > 0) {
      this.reserve(this.restLength + chunk.length);
      chunk.copy(this.rest, this.restLength);
      buf = this.rest;
      end = this.restLength + chunk.length;
    }
    let at = 0;
    while (end - at >= MESSAGE_HEADER) {
      const code = buf[at];
      const next = at + 1 + buf.readUInt32BE(at + 1);
      if (next > end) break;
      if (code === COPY_DATA) {
        // A walsender that gets our CopyDone while it waits to send part of a transaction answers with its own
        // CopyDone, then sends the rest of that transaction. Nobody reads the stream any more: drop it.
        if (!this.serverDone) this.handlers.data(buf.subarray(at + MESSAGE_HEADER, next));
      } else if (code === COPY_DONE) {
        this.serverDone = true;
        this.socket?.toPg(buf.subarray(at, next));
      } else if (code === ERROR_RESPONSE || this.serverDone) {
        // The end of the command: pg reads the rest (CommandComplete and ReadyForQuery, or the error).
        this.socket?.handBack(buf.subarray(at, end));
        return;
      } else {
        // CopyBothResponse (pg reports it as 'replicationStart'), a notice, a parameter status: pg's own business.
        this.socket?.toPg(buf.subarray(at, next));
      }
      at = next;
    }
    const left = end - at;
    if (left > 0) {
      if (buf === this.rest) this.rest.copyWithin(0, at, end);
      else {
        this.reserve(left);
        buf.copy(this.rest, 0, at, end);
      }
    }
    this.restLength = left;
  }

  private reserve(bytes: number): void {
    if (bytes <= this.rest.length) return;
    const grown = Buffer.allocUnsafe(Math.max(bytes, 2 * this.rest.length, 64 * 1024));
    this.rest.copy(grown, 0, 0, this.restLength);
    this.rest = grown;
  }

  private detach(): void {
    this.connection?.removeListener('replicationStart', this.onStart);
    this.socket?.handBack();
  }
}
