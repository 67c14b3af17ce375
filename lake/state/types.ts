import type { LsnText } from '../../core/lsn/index.js';
import type { ColumnFill } from '../../core/types/evolution.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';

/**
 * The contract between the stream side (which knows PostgreSQL) and the lake side (which knows Iceberg) for one
 * flush epoch of one table: CSV files of changes, and the epoch's transactions in commit order.
 *
 * Each CSV file holds changes to one table, without a header, RFC 4180 quoting, NULL as an unquoted empty field and
 * the empty string as `""`. A file may hold many transactions and a transaction may span several files, in any
 * order: rows are put in order by their transaction's place in `transactions` (joined on `_xid`), then `_seq`.
 * Columns, in order:
 *   _xid        BIGINT   the (top-level) transaction's xid, one of `transactions`
 *   _seq        BIGINT   position of the change within its transaction (0-based, increasing)
 *   _op         VARCHAR  I insert · U update · D delete · T truncate (a T row has every other column NULL)
 *   _unchanged  VARCHAR  space-separated field ids whose new value was not sent (an unchanged TOASTed value:
 *                        the value is the row's previous one); NULL when none
 *   k<id>...    one per identity column (`identity` below, in that order): the row's OLD identity value, set for
 *               D always and for U when the server sent the old key (the key changed, or REPLICA IDENTITY FULL);
 *               NULL otherwise (the identity is then the new row's)
 *   c<id>...    one per column in schema order: the new row for I/U; for D the old row as far as the server sent
 *               it (the identity columns at least)
 * Values are in the same text forms as the snapshot's CSV, so each column's `convert` turns them into Iceberg
 * values (arrays arrive as JSON arrays of element text).
 */

export interface ChangeColumn {
  readonly fieldId: number;
  /** The column's name in Parquet and Iceberg. */
  readonly name: string;
  /** read_csv type of the text, e.g. VARCHAR, BIGINT. */
  readonly csvType: string;
  /** DuckDB expression turning a column of csvType (given as SQL text) into the final value. */
  convert(text: string): string;
  /** Iceberg field id of each nested element (lists), for FIELD_IDS. */
  readonly duckdbFieldIds: number | { readonly __duckdb_field_id: number; readonly element: number };
}

export interface ChangeCodec {
  readonly columns: readonly ChangeColumn[];
  /** Field ids that identify a row: the primary key, or every column for REPLICA IDENTITY FULL without one. */
  readonly identity: readonly number[];
  /** 'primary-key': one row per identity value. 'full-row': a multiset, a delete removes one equal row. */
  readonly identityKind: 'primary-key' | 'full-row';
  /**
   * The state table's schema these columns belong to (retired fields included). When its fields differ from the
   * table's current schema, the epoch first evolves the table (lake/state/evolve.ts). Absent: the current schema.
   */
  readonly schema?: IcebergSchema;
  /** With `schema`: what the rows already in the table get in the fields it introduces (lake/state/fill.ts). */
  readonly fills?: readonly ColumnFill[];
}

export interface CommittedTransaction {
  /** Decimal text of the 32-bit xid: unique within a batch. */
  readonly xid: string;
  /** The commit record's LSN. */
  readonly commitLsn: LsnText;
  /** Commit time, ISO 8601 with microseconds and offset. */
  readonly commitTime: string;
  /** Changes of this transaction to the table; the files hold exactly the sum over `transactions`, or the epoch is refused. */
  readonly rows: number;
  /**
   * The transaction altered the table between two of its writes, so its changes to the table are split over
   * consecutive epochs at the ALTER, each part in the columns it was written in (docs/schema-evolution.md):
   * `continued`, its earlier changes are in the previous epoch (it is then the epoch's first transaction, at the
   * previous epoch's LSN); `continues`, its later changes are in the next epoch (it is then the last).
   */
  readonly continued?: true;
  readonly continues?: true;
}

export interface ChangeBatch {
  /** State table identifier `schema.table`; the changelog is `schema.table__changes`. */
  readonly table: string;
  /** 1, 2, ... per table; epoch 0 is the snapshot base. */
  readonly epoch: number;
  /** Local paths of the CSV files holding the changes of `transactions`. */
  readonly files: readonly string[];
  /** In commit order; every commit LSN above the table's committed LSN (a `continued` first one: at it). */
  readonly transactions: readonly CommittedTransaction[];
  /** Bytes of the longest row in `files`, when the writer counted it: sizes the CSV reader's buffers. */
  readonly longestRow?: number;
}

export interface EpochCommit {
  readonly table: string;
  readonly epoch: number;
  /** Commit LSN of the last transaction in the epoch: the table's committed LSN from now on. */
  readonly committedLsn: LsnText;
  readonly stateSnapshotId: string;
  readonly changesSnapshotId: string;
  readonly rowsInserted: number;
  readonly rowsDeleted: number;
  readonly changes: number;
  /** false when both snapshots were already there (a retried commit): nothing was written. */
  readonly committed: boolean;
}
