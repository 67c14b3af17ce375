/**
 * node-postgres has no CopyBoth API. This is the smallest piece that gives it one: a Submittable that sends the
 * START_REPLICATION query and receives what the client routes to its active query (copy data, errors, the end of
 * the command), plus the driver calls the typings leave out for writing copy data back.
 */
import type { Duplex } from 'node:stream';
import type pg from 'pg';

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
  /** One CopyData payload. The buffer is the driver's and is reused after this call returns. */
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

  constructor(
    private readonly text: string,
    private readonly handlers: CopyBothHandlers,
  ) {}

  submit(connection: pg.Connection): void {
    this.connection = connection as unknown as CopyBothConnection;
    this.connection.once('replicationStart', this.onStart);
    this.connection.query(this.text);
  }

  handleCopyData(message: { chunk: Buffer }): void {
    this.handlers.data(message.chunk);
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

  private detach(): void {
    this.connection?.removeListener('replicationStart', this.onStart);
  }
}
