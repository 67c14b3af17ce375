import { PgCdcError } from '../../core/errors/index.js';

/**
 * Errors of committing a flush epoch. Codes are stable: the table actor matches on them. EPOCH_GAP and
 * EPOCH_MISMATCH mean the caller's idea of the table is wrong and retrying the same call cannot help.
 */

/** The state table is more than one epoch behind the batch: an earlier epoch was never committed. */
export class EpochGapError extends PgCdcError {
  constructor(table: string, epoch: number, committedEpoch: number) {
    super('EPOCH_GAP', `${table} is at epoch ${committedEpoch}, so epoch ${epoch} cannot be committed yet`, {
      context: { table, epoch, committedEpoch },
      hint: `commit epoch ${committedEpoch + 1} first: epochs of a table are committed one after another`,
    });
  }
}

/** The batch does not fit the table: it differs from what was committed for the epoch, or its LSNs go back. */
export class EpochMismatchError extends PgCdcError {
  constructor(table: string, epoch: number, message: string, context: Record<string, string | number> = {}) {
    super('EPOCH_MISMATCH', `${table} epoch ${epoch}: ${message}`, {
      context: { table, epoch, ...context },
      hint: 'a retried epoch must carry the same transactions; re-read the table state (epoch, committed LSN) and rebuild the batch from there',
    });
  }
}

/** The table has no committed base (epoch 0) to build on, or the epoch's snapshot is no longer in the table. */
export class EpochStateError extends PgCdcError {
  constructor(table: string, epoch: number, message: string, hint: string) {
    super('EPOCH_STATE', `${table} epoch ${epoch}: ${message}`, { context: { table, epoch }, hint });
  }
}

/**
 * DuckDB ran out of its memory_limit while it read an epoch: not the batch's fault, so retryable (the memory other
 * work held may be free on the next attempt), with the settings that give the epochs more room.
 */
export class EpochOutOfMemoryError extends PgCdcError {
  constructor(table: string, epoch: number, cause: unknown) {
    const reason = cause instanceof Error ? (cause.message.split('\n')[0] ?? cause.message) : String(cause);
    super('EPOCH_OUT_OF_MEMORY', `${table} epoch ${epoch}: DuckDB ran out of memory reading the epoch: ${reason}`, {
      context: { table, epoch },
      hint: 'raise memory.limit_mb (the epochs get a quarter of it) or lower flush.max_bytes; the epoch is retried',
      cause,
    });
  }
}

/** DuckDB's own out-of-memory error, which it raises whatever the statement. */
export const isDuckDBOutOfMemory = (error: unknown): boolean =>
  error instanceof Error && error.message.startsWith('Out of Memory Error');

/** DuckDB refused the batch's CSV or a value's conversion; names the table, epoch and DuckDB's reason. */
export class ChangeBatchError extends PgCdcError {
  constructor(table: string, epoch: number, cause: unknown) {
    const reason = cause instanceof Error ? (cause.message.split('\n')[0] ?? cause.message) : String(cause);
    super('EPOCH_BATCH_INVALID', `${table} epoch ${epoch}: the change files do not read: ${reason}`, {
      context: { table, epoch },
      hint: 'the DuckDB error names the file, line and column (kN / cN hold field id N); the files are kept for inspection',
      cause,
    });
  }
}
