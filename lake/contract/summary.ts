/**
 * What pg-cdc writes into Iceberg beside the data: the summary properties of each snapshot it commits and the
 * properties of the tables it creates. Readers (the query engine, the API, `pg-cdc start` resuming a table) find
 * a table's epoch and committed LSN here, so the keys and the reading of their values are defined once.
 */
import { formatLsn, tryParseLsn, type LsnText } from '../../core/lsn/index.js';

/** Snapshot summary keys. */
export const SUMMARY_KEY = {
  /**
   * `snapshot` (the base `pg-cdc init` commits), `epoch` (a flush), `compaction` (files rewritten) or `fill` (the
   * rows rewritten with the values a schema change gave them: docs/schema-evolution.md).
   */
  kind: 'pgcdc.kind',
  /** 0 for the snapshot base, then 1, 2, ... per table. */
  epoch: 'pgcdc.epoch',
  /** The committed LSN: every transaction committed at or before it is in the snapshot. */
  lsn: 'pgcdc.lsn',
  /** On an epoch's snapshot: the commit LSN of its first transaction (promotion's cut needs both ends). */
  firstLsn: 'pgcdc.first-lsn',
  /** The replication slot the base was exported from. */
  slot: 'pgcdc.slot',
  /** Changelog rows the epoch added. */
  changes: 'pgcdc.changes',
  rowsInserted: 'pgcdc.rows-inserted',
  rowsDeleted: 'pgcdc.rows-deleted',
  /** `true` when the epoch held a TRUNCATE. */
  truncated: 'pgcdc.truncated',
  /** On a compaction's snapshot: the snapshot whose rows it rewrote. */
  compactedFrom: 'pgcdc.compacted-from',
  /** On a fill's snapshot: the schema id whose new fields it filled in the rows already there. */
  filledFor: 'pgcdc.filled-for-schema',
} as const;

/** What a compaction's snapshot keeps of the one it replaces: where the table stands still holds after it. */
export const SUMMARY_KEYS_KEPT_BY_COMPACTION: readonly string[] = [
  SUMMARY_KEY.epoch,
  SUMMARY_KEY.lsn,
  SUMMARY_KEY.slot,
];

/** Table properties. */
export const TABLE_PROPERTY = {
  /** The state table a table belongs to (itself for a state table). */
  sourceTable: 'pgcdc.source-table',
  /** `changelog` on a changelog table. */
  tableKind: 'pgcdc.table-kind',
  slot: 'pgcdc.slot',
  /**
   * On a table that joined while streaming: `pg_current_snapshot()` of the snapshot its base was copied under, and
   * the LSN every transaction that snapshot sees committed below. A streamed transaction is applied on top of the
   * base exactly when that snapshot does not see it (core/xid).
   */
  snapshotXids: 'pgcdc.snapshot-xids',
  snapshotLsn: 'pgcdc.snapshot-lsn',
  /**
   * The source table's columns (JSON of core/types/source.ts's SourceTable) the base snapshot was planned from:
   * what a first `start` or `reconcile` knows the lake's first schema by when the source has changed since.
   */
  baseSourceColumns: 'pgcdc.base-source-columns',
} as const;

export type SnapshotKind = 'snapshot' | 'epoch' | 'compaction' | 'fill';

type Summary = Readonly<Record<string, string>>;

/** The summary properties every pg-cdc snapshot carries. */
export function pgcdcSummary(facts: {
  readonly kind: SnapshotKind;
  readonly epoch: number;
  readonly lsn: LsnText;
  readonly firstLsn?: LsnText;
  readonly slot?: string;
}): Record<string, string> {
  return {
    [SUMMARY_KEY.kind]: facts.kind,
    [SUMMARY_KEY.epoch]: String(facts.epoch),
    [SUMMARY_KEY.lsn]: facts.lsn,
    ...(facts.firstLsn === undefined ? {} : { [SUMMARY_KEY.firstLsn]: facts.firstLsn }),
    ...(facts.slot === undefined ? {} : { [SUMMARY_KEY.slot]: facts.slot }),
  };
}

/** The epoch a snapshot records; undefined when it records none (not a pg-cdc snapshot) or not a whole number. */
export function summaryEpoch(summary: Summary | undefined): number | undefined {
  const text = summary?.[SUMMARY_KEY.epoch];
  return text === undefined || !/^\d+$/.test(text) ? undefined : Number(text);
}

/** The committed LSN a snapshot records, in PostgreSQL's form; undefined when it records none or not an LSN. */
export function summaryLsn(summary: Summary | undefined): LsnText | undefined {
  const text = summary?.[SUMMARY_KEY.lsn];
  const lsn = text === undefined ? undefined : tryParseLsn(text);
  return lsn === undefined ? undefined : formatLsn(lsn);
}
