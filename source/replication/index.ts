/** The logical replication reader: pgoutput decoding and the replication stream. */
export * from './messages.js';
export { PgoutputDecoder } from './decoder.js';
export { PG_EPOCH_OFFSET_MICROS, readTimestamp, readUint64 } from './wire.js';
export { classifyStreamError, PgoutputDecodeError } from './errors.js';
export { startReplicationCommand, standbyStatusUpdate, type KeepaliveEvent } from './protocol.js';
export {
  ReplicationStream,
  type ReplicationEvent,
  type ReplicationStats,
  type ReplicationStreamOptions,
  type XLogEvent,
} from './stream.js';
export { pgArrayToJson } from './arrays.js';
