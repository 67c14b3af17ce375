/**
 * The streaming replication sub-protocol inside CopyBoth: the START_REPLICATION command, XLogData ('w') and
 * primary keepalive ('k') from the server, and the standby status update ('r') we send back.
 */
import { quoteIdent } from '../../core/selection/index.js';
import { PgCdcError } from '../../core/errors/index.js';
import { formatLsn, type Lsn } from '../../core/lsn/index.js';
import { PG_EPOCH_OFFSET_MICROS, readTimestamp, readUint64 } from './wire.js';

export interface StartReplicationOptions {
  readonly slot: string;
  readonly publications: readonly string[];
  readonly startLsn: Lsn;
  readonly protoVersion: 1 | 2;
  readonly streaming: boolean;
  readonly messages: boolean;
}

const literal = (value: string): string => `'${value.replace(/'/g, "''")}'`;

/**
 * publication_names is a comma-separated identifier list that the server splits like SQL identifiers, so each
 * name is double-quoted (keeping its case and any commas) inside a single-quoted literal.
 */
export function startReplicationCommand(options: StartReplicationOptions): string {
  if (options.streaming && options.protoVersion < 2) {
    throw new PgCdcError('REPLICATION_OPTIONS_INVALID', 'streaming in-progress transactions needs protoVersion 2', {
      context: { slot: options.slot },
      hint: 'open the stream with protoVersion: 2, or with streaming: false',
    });
  }
  const parameters = [
    `proto_version ${literal(String(options.protoVersion))}`,
    `publication_names ${literal(options.publications.map(quoteIdent).join(','))}`,
    ...(options.messages ? [`messages 'true'`] : []),
    ...(options.streaming ? [`streaming 'on'`] : []),
  ];
  return `START_REPLICATION SLOT ${quoteIdent(options.slot)} LOGICAL ${formatLsn(options.startLsn)} (${parameters.join(', ')})`;
}

export const XLOG_DATA = 0x77; // w
export const KEEPALIVE = 0x6b; // k
/** Where the pgoutput message starts inside an XLogData copy-data payload. */
export const XLOG_HEADER_LENGTH = 25;

export interface KeepaliveEvent {
  readonly kind: 'keepalive';
  readonly walEnd: Lsn;
  readonly serverTimeMicros: bigint;
  readonly replyRequested: boolean;
}

export function readKeepalive(chunk: Buffer): KeepaliveEvent {
  return {
    kind: 'keepalive',
    walEnd: readUint64(chunk, 1) as Lsn,
    serverTimeMicros: readTimestamp(chunk, 9),
    replyRequested: chunk[17] === 1,
  };
}

/** Unix epoch microseconds now, for the status update's clock field. */
export const nowMicros = (): bigint => BigInt(Date.now()) * 1000n;

/** Standby Status Update: written, flushed and applied positions, our clock, and whether we want an answer. */
export function standbyStatusUpdate(written: Lsn, flushed: Lsn, applied: Lsn, replyRequested = false): Buffer {
  const buf = Buffer.allocUnsafe(34);
  buf[0] = 0x72; // r
  buf.writeBigUInt64BE(written, 1);
  buf.writeBigUInt64BE(flushed, 9);
  buf.writeBigUInt64BE(applied, 17);
  buf.writeBigInt64BE(nowMicros() - PG_EPOCH_OFFSET_MICROS, 25);
  buf[33] = replyRequested ? 1 : 0;
  return buf;
}
