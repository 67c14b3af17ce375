/**
 * ReplicationStream: one logical replication connection reading a slot through pgoutput, as an async iterable of
 * decoded events with a bounded queue (the socket is paused while the consumer lags), and standby status updates
 * that report how far the consumer has made changes durable. What may be acknowledged is the caller's decision.
 */
import type pg from 'pg';
import { PgCdcError } from '../../core/errors/index.js';
import { silentLogger, type Logger } from '../../core/log/index.js';
import { sourceSessionOptions } from '../../core/types/index.js';
import { connectSource, type ConnectOptions, type SourceSettings } from '../connection.js';
import { copyBothConnection, CopyBothQuery, type CopyBothConnection } from './copy-both.js';
import { PgoutputDecoder } from './decoder.js';
import { readTimestamp, readUint64 } from './wire.js';
import { classifyStreamError, PgoutputDecodeError } from './errors.js';
import { formatLsn, ZERO_LSN, type Lsn } from '../../core/lsn/index.js';
import type { PgoutputMessage } from './messages.js';
import {
  KEEPALIVE,
  readKeepalive,
  standbyStatusUpdate,
  startReplicationCommand,
  XLOG_DATA,
  XLOG_HEADER_LENGTH,
  type KeepaliveEvent,
} from './protocol.js';
import { BoundedQueue } from './queue.js';

export type { KeepaliveEvent } from './protocol.js';

export interface XLogEvent {
  readonly kind: 'xlog';
  readonly walStart: Lsn;
  readonly walEnd: Lsn;
  readonly serverTimeMicros: bigint;
  readonly message: PgoutputMessage;
}

export type ReplicationEvent = XLogEvent | KeepaliveEvent;

export interface ReplicationStreamOptions {
  readonly settings: SourceSettings;
  readonly slot: string;
  readonly publication: string | readonly string[];
  /** ZERO_LSN (the default) starts from the slot's confirmed position. */
  readonly startLsn?: Lsn;
  readonly protoVersion: 1 | 2;
  /** Receive large in-progress transactions as stream_start .. stream_stop blocks (protocol 2). */
  readonly streaming?: boolean;
  /** Receive pg_logical_emit_message() messages. */
  readonly messages?: boolean;
  readonly statusIntervalMs?: number;
  /** Decoded events held before the socket is paused. */
  readonly maxQueued?: number;
  readonly log?: Logger;
  /** The credentials IAM tokens are signed with (source.postgres.iam_auth); default: the AWS SDK's chain. */
  readonly awsCredentials?: ConnectOptions['awsCredentials'];
}

export interface ReplicationStats {
  /** XLogData messages received. */
  readonly messages: number;
  /** CopyData bytes received. */
  readonly bytes: number;
  /** How long the socket has been paused because the consumer lagged. */
  readonly pausedMs: number;
}

const CLOSE_TIMEOUT_MS = 5_000;

/**
 * The walsender formats values with its own session's settings. As startup options they are in force before
 * START_REPLICATION and on every reconnect, whatever the role's or database's defaults say.
 */
function withSessionOptions(settings: SourceSettings): SourceSettings {
  let url: URL;
  try {
    url = new URL(settings.url ?? '');
  } catch (cause) {
    throw new PgCdcError('REPLICATION_OPTIONS_INVALID', 'source.postgres.url is not a URL', {
      hint: 'write the source as postgresql://user@host:5432/db: the replication connection adds its settings to it',
      cause,
    });
  }
  const existing = url.searchParams.get('options');
  url.searchParams.set('options', existing ? `${existing} ${sourceSessionOptions()}` : sourceSessionOptions());
  return { ...settings, url: url.toString() };
}

export class ReplicationStream implements AsyncIterable<ReplicationEvent> {
  private readonly decoder = new PgoutputDecoder();
  private readonly queue: BoundedQueue<ReplicationEvent>;
  private readonly connection: CopyBothConnection;
  private readonly publication: string;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private received: Lsn = ZERO_LSN;
  private flushed: Lsn = ZERO_LSN;
  private messageCount = 0;
  private byteCount = 0;
  private state: 'starting' | 'streaming' | 'closing' | 'closed' | 'failed' = 'starting';
  private closing: Promise<void> | undefined;
  private onFinished: (() => void) | undefined;

  private constructor(
    private readonly client: pg.Client,
    private readonly options: ReplicationStreamOptions,
  ) {
    this.connection = copyBothConnection(client);
    this.publication = [options.publication].flat().join(',');
    this.log = (options.log ?? silentLogger).child({ slot: options.slot });
    const socket = this.connection.stream;
    this.queue = new BoundedQueue(options.maxQueued ?? 10_000, {
      pause: () => socket.pause(),
      resume: () => socket.resume(),
    });
  }

  /** Connect with `replication=database`, run START_REPLICATION and resolve once the server streams. */
  static async open(options: ReplicationStreamOptions): Promise<ReplicationStream> {
    const command = startReplicationCommand({
      slot: options.slot,
      publications: [options.publication].flat(),
      startLsn: options.startLsn ?? ZERO_LSN,
      protoVersion: options.protoVersion,
      streaming: options.streaming ?? false,
      messages: options.messages ?? false,
    });
    const client = await connectSource(withSessionOptions(options.settings), {
      replication: true,
      ...(options.log ? { log: options.log } : {}),
      ...(options.awsCredentials === undefined ? {} : { awsCredentials: options.awsCredentials }),
    });
    const stream = new ReplicationStream(client, options);
    await stream.start(command);
    return stream;
  }

  get stats(): ReplicationStats {
    return { messages: this.messageCount, bytes: this.byteCount, pausedMs: this.queue.stats.pausedMs };
  }

  /** The highest WAL start position of any XLogData received. */
  get lastReceivedLsn(): Lsn {
    return this.received;
  }

  /** The position last acknowledged: reported to the server as flushed and applied. */
  get acknowledgedLsn(): Lsn {
    return this.flushed;
  }

  /**
   * Everything up to `lsn` is durable downstream: the server may recycle the WAL before it and will not send those
   * changes again after a reconnect. Never moves backwards.
   */
  acknowledge(lsn: Lsn): void {
    if (lsn <= this.flushed) return;
    this.flushed = lsn;
    this.sendStatus();
  }

  /**
   * The next event already received, without waiting; undefined when none is (the iterator then waits). A consumer
   * that drains with this pays no promise per message.
   */
  poll(): ReplicationEvent | undefined {
    return this.queue.poll();
  }

  [Symbol.asyncIterator](): AsyncIterator<ReplicationEvent, undefined> {
    return {
      next: () => this.queue.next(),
      return: async () => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }

  /** End streaming cleanly (CopyDone, then Terminate); events not yet read are dropped. */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private start(command: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const query = new CopyBothQuery(command, {
        started: () => {
          this.state = 'streaming';
          this.log.info(
            { publication: this.publication, startLsn: formatLsn(this.options.startLsn ?? ZERO_LSN) },
            'replication started',
          );
          const interval = this.options.statusIntervalMs ?? 10_000;
          this.timer = setInterval(() => this.sendStatus(), interval).unref();
          resolve();
        },
        data: (chunk) => this.onData(chunk),
        failed: (error) => {
          if (this.state === 'closing') return this.onFinished?.();
          const wasStarting = this.state === 'starting';
          const failure = this.fail(error);
          if (wasStarting) reject(failure);
        },
        finished: () => {
          if (this.state === 'starting') reject(this.fail(new Error('START_REPLICATION ended without streaming')));
          this.onFinished?.();
        },
      });
      this.client.on('end', () => {
        if (this.state === 'closing') this.onFinished?.();
        else if (this.state === 'starting' || this.state === 'streaming') this.fail(new Error('connection closed'));
      });
      this.client.query(query);
    });
  }

  private onData(chunk: Buffer): void {
    if (this.state !== 'streaming') return;
    this.byteCount += chunk.length;
    try {
      const kind = chunk[0];
      if (kind === XLOG_DATA) {
        const walStart = readUint64(chunk, 1) as Lsn;
        const walEnd = readUint64(chunk, 9) as Lsn;
        const serverTimeMicros = readTimestamp(chunk, 17);
        const message = this.decoder.decode(chunk, XLOG_HEADER_LENGTH);
        this.messageCount++;
        if (walStart > this.received) this.received = walStart;
        this.queue.push({ kind: 'xlog', walStart, walEnd, serverTimeMicros, message });
      } else if (kind === KEEPALIVE) {
        const keepalive = readKeepalive(chunk);
        if (keepalive.replyRequested) this.sendStatus();
        this.queue.push(keepalive);
      } else {
        throw new PgoutputDecodeError(
          `unknown replication copy-data message ${JSON.stringify(String.fromCharCode(kind ?? 0))}`,
        );
      }
    } catch (error) {
      this.fail(error);
    }
  }

  private sendStatus(): void {
    if (this.state !== 'streaming') return;
    const written = this.received > this.flushed ? this.received : this.flushed;
    this.connection.sendCopyFromChunk(standbyStatusUpdate(written, this.flushed, this.flushed));
  }

  /** Stop on the first failure: queued events are still delivered, then the typed error. */
  private fail(error: unknown): PgCdcError {
    const failure = classifyStreamError(error, {
      slot: this.options.slot,
      publication: this.publication,
      lastReceivedLsn: this.received,
    });
    if (this.state === 'failed' || this.state === 'closed' || this.state === 'closing') return failure;
    this.state = 'failed';
    this.log.warn({ code: failure.code, lastReceivedLsn: formatLsn(this.received) }, failure.message);
    clearInterval(this.timer);
    this.queue.end(failure);
    this.connection.stream.resume();
    void this.client.end().catch(() => undefined);
    return failure;
  }

  private async shutDown(): Promise<void> {
    clearInterval(this.timer);
    this.queue.clear();
    this.queue.end();
    if (this.state === 'streaming') {
      this.sendStatus();
      this.state = 'closing';
      // Keep reading: a walsender stopped inside a transaction may send the rest of it, even after its CopyDone.
      this.connection.stream.resume();
      const finished = new Promise<void>((resolve) => {
        this.onFinished = resolve;
        setTimeout(resolve, CLOSE_TIMEOUT_MS).unref();
      });
      this.connection.endCopyFrom();
      await finished;
    }
    this.state = 'closed';
    await this.client.end().catch(() => undefined);
    this.log.info({ acknowledgedLsn: formatLsn(this.flushed) }, 'replication stopped');
  }
}
