import type pg from 'pg';
import { PgCdcError } from '../../core/errors/index.js';
import { COPY_CSV_OPTIONS, sourceSessionSql } from '../../core/types/index.js';
import { copyOut, type CopyOutStream } from './copy-out.js';

export class SnapshotGoneError extends PgCdcError {
  constructor(snapshotName: string, cause: unknown) {
    super('SNAPSHOT_GONE', `exported snapshot ${snapshotName} is no longer valid`, {
      context: { snapshot: snapshotName },
      hint: 'the connection that exported it closed; the snapshot workflow drops the slot and starts over',
      cause,
    });
  }
}

/** The COPY that writes a query's rows in the CSV dialect the Parquet writer reads (core/types/csv.ts). */
export const copyStatement = (query: string): string => `COPY (${query}) TO STDOUT WITH (${COPY_CSV_OPTIONS})`;

export interface CopyRequest {
  readonly snapshotName: string;
  /** `SELECT <list> FROM <table> WHERE <predicate>`: built from the table plan, never from user input. */
  readonly query: string;
  /** The longest CSV record passed on; a longer one fails the copy with CopyRowTooLongError. */
  readonly maxRowBytes?: number;
}

/**
 * COPY one query's rows as CSV, inside a transaction that has imported the exported snapshot, so every chunk of
 * every table sees the database at the same instant; `consume` reads the stream (into the Parquet writer) and its
 * result is returned once the transaction has ended cleanly. The session settings make the text output exactly
 * the form the type mapping parses.
 */
export async function copyUnderSnapshot<T>(
  client: pg.ClientBase,
  request: CopyRequest,
  consume: (rows: CopyOutStream) => Promise<T>,
): Promise<T> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    try {
      await client.query(`SET TRANSACTION SNAPSHOT '${request.snapshotName.replace(/'/g, "''")}'`);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === '22023' || code === '0A000') throw new SnapshotGoneError(request.snapshotName, error);
      throw error;
    }
    await client.query(sourceSessionSql('local'));
    const result = await consume(
      client.query(copyOut(copyStatement(request.query), { maxRowBytes: request.maxRowBytes })),
    );
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
