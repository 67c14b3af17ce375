/**
 * The socket of a pg connection, read by us instead of pg while one COPY runs. pg turns every protocol message into
 * an object and an event; a COPY of millions of rows or a replication stream of millions of changes is better
 * framed by hand. The caller reads the socket from take() until it hands it back, with whatever bytes pg must read
 * next (CommandComplete and ReadyForQuery, or an ErrorResponse).
 */
import type { Duplex } from 'node:stream';

type DataListener = (chunk: Buffer) => void;

/** Backend message codes the COPY readers act on; every message starts with its code and a 4-byte length. */
export const COPY_DATA = 0x64; // 'd'
export const COPY_DONE = 0x63; // 'c'
export const ERROR_RESPONSE = 0x45; // 'E'
export const MESSAGE_HEADER = 5;

/** The part of pg's Connection this uses: its socket, with pg's parser as the one data listener. */
export interface PgSocketOwner {
  readonly stream: Duplex;
}

export class SocketReader {
  private pgListener: DataListener | undefined;

  private constructor(
    private readonly socket: Duplex,
    private readonly onData: DataListener,
  ) {}

  /** Reads the connection's socket with onData from now on; call before the query is sent. */
  static take(connection: PgSocketOwner, onData: DataListener): SocketReader {
    const reader = new SocketReader(connection.stream, onData);
    const listeners = connection.stream.listeners('data') as DataListener[];
    const [pgListener] = listeners;
    if (!pgListener || listeners.length !== 1) {
      throw new Error(`expected pg's one data listener on the connection, found ${listeners.length}`);
    }
    reader.pgListener = pgListener;
    connection.stream.removeListener('data', pgListener);
    connection.stream.on('data', onData);
    return reader;
  }

  /** True until handBack. */
  get reading(): boolean {
    return this.pgListener !== undefined;
  }

  pause(): void {
    if (this.reading) this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Passes complete messages to pg while still reading the socket (a notice, a parameter status). */
  toPg(messages: Buffer): void {
    this.pgListener?.(messages);
  }

  /** pg reads the socket again, starting with `rest`; the socket flows. Later calls do nothing. */
  handBack(rest: Buffer = Buffer.alloc(0)): void {
    const listener = this.pgListener;
    if (!listener) return;
    this.pgListener = undefined;
    this.socket.removeListener('data', this.onData);
    this.socket.on('data', listener);
    this.socket.resume();
    if (rest.length > 0) listener(rest);
  }
}
