/**
 * The replication reader's errors, each with a stable code: the stream worker reconnects on
 * REPLICATION_CONNECTION_LOST, stops and tells the operator on the others.
 */
import { PgCdcError, type ErrorContext } from '../../core/errors/index.js';
import { formatLsn, type Lsn } from '../../core/lsn/index.js';

/** The bytes the server sent are not pgoutput as we know it: a newer protocol, binary values, or a cut message. */
export class PgoutputDecodeError extends PgCdcError {
  constructor(message: string, context: ErrorContext = {}) {
    super('PGOUTPUT_DECODE', message, {
      context,
      hint: 'start replication with proto_version 1 or 2 and without the binary option; if it persists, report the message bytes',
    });
  }
}

export interface StreamErrorContext {
  readonly slot: string;
  readonly publication: string;
  readonly lastReceivedLsn: Lsn;
}

const where = (c: StreamErrorContext): ErrorContext => ({
  slot: c.slot,
  publication: c.publication,
  lastReceivedLsn: formatLsn(c.lastReceivedLsn),
});

/** The server's SQLSTATE and message, when a failure came as an ErrorResponse. */
interface ServerError {
  readonly code?: string;
  readonly message?: string;
}

const asServerError = (error: unknown): ServerError =>
  typeof error === 'object' && error !== null ? error : { message: String(error) };

// Admin shutdown, crash shutdown, cannot connect now, the connection-exception class and Node's socket errors
// (ECONNRESET, EPIPE ...): the server or the network went away, not our request. Reconnecting is the cure.
const LOST_CODES = /^(57P0[1-3]|08...|E[A-Z]+)$/;

/** What a failure of START_REPLICATION or of a running stream means for the caller. */
export function classifyStreamError(error: unknown, context: StreamErrorContext): PgCdcError {
  if (error instanceof PgCdcError) return error;
  const { code = '', message = '' } = asServerError(error);
  const ctx = where(context);
  if (code === '55006' || /is active for PID/i.test(message)) {
    return new PgCdcError('SLOT_IN_USE', `replication slot ${context.slot} is in use: ${message}`, {
      context: ctx,
      hint: 'another `pg-cdc start` (or another client) is reading this slot: stop it, or wait for its connection to time out (wal_sender_timeout) and retry',
      cause: error,
    });
  }
  if (code === '42704' && /replication slot/i.test(message)) {
    return new PgCdcError('SLOT_NOT_FOUND', `replication slot ${context.slot} does not exist`, {
      context: ctx,
      hint: 'run `pg-cdc init` to create the slot and take the initial snapshot (or fix replication.slot)',
      cause: error,
    });
  }
  if (code === '42704' && /publication/i.test(message)) {
    return new PgCdcError('PUBLICATION_NOT_FOUND', `publication ${context.publication} does not exist`, {
      context: ctx,
      hint: 'run `pg-cdc init` to create the publication (or fix replication.publication)',
      cause: error,
    });
  }
  if (code === '' || LOST_CODES.test(code)) {
    return new PgCdcError(
      'REPLICATION_CONNECTION_LOST',
      `the replication connection for slot ${context.slot} was lost: ${message || 'connection closed'}`,
      {
        context: ctx,
        hint: 'reconnect: streaming resumes from the slot’s confirmed position, and changes after it are sent again',
        cause: error,
      },
    );
  }
  return new PgCdcError('REPLICATION_FAILED', `logical replication from slot ${context.slot} failed: ${message}`, {
    context: { ...ctx, sqlstate: code },
    hint: 'read the server message above; `pg-cdc preflight` checks the role, wal_level, the slot and the publication',
    cause: error,
  });
}
