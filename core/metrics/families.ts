import { Counter, Gauge, Histogram } from 'prom-client';
import { processRegistry, tableLabelsEnabled } from './registry.js';
import { failureOf } from '../errors/catalog.js';
import { isPgCdcError } from '../errors/index.js';

/**
 * Every metric family pg-cdc records outside its API, defined once: name, help and labels. docs/metrics.md lists
 * them; a unit test checks that it lists exactly these. Labels never carry a principal; a `table` label only with
 * `metrics.table_labels: true`.
 */
const registers = [processRegistry];

/** What the stream worker reports: read at scrape time from the running stream (see bindStreamSource). */
export interface StreamSource {
  readonly transactions: number;
  readonly changes: number;
  readonly reconnects: number;
  readonly schemaChanges: number;
  readonly heartbeats: number;
  readonly pausedMs: number;
  readonly spoolBytes: number;
  readonly lagBytes: number | undefined;
  readonly retainedWalBytes: number | undefined;
  readonly guardrailExceeded: boolean;
  /** Source commit time of the oldest change read but not yet in the lake (ISO); undefined when nothing waits. */
  readonly oldestWaitingCommitTime: string | undefined;
  readonly tables: Readonly<Record<string, { readonly epoch: number; readonly changes: number }>>;
  readonly failedTables: Readonly<
    Record<string, { readonly table: string; readonly code: string; readonly epoch: number }>
  >;
}

let stream: (() => StreamSource) | undefined;

/** The stream this process runs; its figures are what the stream families report. */
export function bindStreamSource(source: (() => StreamSource) | undefined): void {
  stream = source;
}

/** A counter whose value is the stream's own running total, read when scraped. */
function streamCounter(name: string, help: string, read: (s: StreamSource) => number): Counter {
  return new Counter({
    name,
    help,
    registers,
    collect() {
      if (!stream) return;
      this.reset();
      this.inc(read(stream()));
    },
  });
}

function streamGauge(name: string, help: string, read: (s: StreamSource) => number | undefined): Gauge {
  return new Gauge({
    name,
    help,
    registers,
    collect() {
      const value = stream ? read(stream()) : undefined;
      if (value === undefined) this.reset();
      else this.set(value);
    },
  });
}

// Replication: throughput, lag, slot safety, backpressure.
streamCounter('pgcdc_stream_transactions_total', 'Source transactions read from the slot.', (s) => s.transactions);
streamCounter('pgcdc_stream_changes_total', 'Row changes read from the slot.', (s) => s.changes);
streamCounter('pgcdc_stream_reconnects_total', 'Replication connections re-established.', (s) => s.reconnects);
streamCounter('pgcdc_stream_schema_changes_total', 'Column changes followed while streaming.', (s) => s.schemaChanges);
streamCounter(
  'pgcdc_stream_heartbeats_total',
  'Heartbeat messages emitted to keep the slot moving.',
  (s) => s.heartbeats,
);
streamCounter(
  'pgcdc_stream_paused_seconds_total',
  'Time reading was paused because the spool was full (backpressure).',
  (s) => s.pausedMs / 1000,
);
streamGauge(
  'pgcdc_spool_bytes',
  'Bytes of committed transactions waiting in the spool for the lake.',
  (s) => s.spoolBytes,
);
streamGauge(
  'pgcdc_slot_lag_bytes',
  'WAL between the server position and the slot confirmed position.',
  (s) => s.lagBytes,
);
streamGauge('pgcdc_slot_retained_wal_bytes', 'WAL the server keeps for the slot.', (s) => s.retainedWalBytes);
streamGauge('pgcdc_lag_seconds', 'Age of the oldest change read but not yet committed to the lake.', (s) =>
  s.oldestWaitingCommitTime ? Math.max(0, (Date.now() - Date.parse(s.oldestWaitingCommitTime)) / 1000) : 0,
);
streamGauge('pgcdc_guardrail_exceeded', '1 when retained WAL is above guardrail.max_retained_wal_bytes.', (s) =>
  s.guardrailExceeded ? 1 : 0,
);
streamGauge(
  'pgcdc_tables_failed',
  'Tables stopped by a permanent epoch failure.',
  (s) => Object.keys(s.failedTables).length,
);

new Gauge({
  name: 'pgcdc_table_epoch',
  help: 'Last committed epoch per table (metrics.table_labels).',
  labelNames: ['table'],
  registers,
  collect() {
    this.reset();
    if (!stream || !tableLabelsEnabled()) return;
    for (const [table, state] of Object.entries(stream().tables)) this.set({ table }, state.epoch);
  },
});
new Counter({
  name: 'pgcdc_table_changes_total',
  help: 'Changes committed per table (metrics.table_labels).',
  labelNames: ['table'],
  registers,
  collect() {
    this.reset();
    if (!stream || !tableLabelsEnabled()) return;
    for (const [table, state] of Object.entries(stream().tables)) this.inc({ table }, state.changes);
  },
});
new Gauge({
  name: 'pgcdc_table_failed',
  help: 'The epoch at which a table failed, by table and error code (metrics.table_labels).',
  labelNames: ['table', 'code'],
  registers,
  collect() {
    this.reset();
    if (!stream || !tableLabelsEnabled()) return;
    for (const f of Object.values(stream().failedTables)) this.set({ table: f.table, code: f.code }, f.epoch);
  },
});

// The sink: epochs, their stages, the catalog and the object store.
const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export const epochsCommitted = new Counter({
  name: 'pgcdc_epochs_committed_total',
  help: 'Epochs committed to the lake (a retried commit that found its snapshots already there is not counted).',
  registers,
});
export const changesCommitted = new Counter({
  name: 'pgcdc_changes_committed_total',
  help: 'Changelog rows committed to the lake.',
  registers,
});
export const sinkStageSeconds = new Histogram({
  name: 'pgcdc_sink_stage_seconds',
  help: 'Time per sink stage: epoch (a whole epoch commit), parquet_write, catalog_commit, object_put.',
  labelNames: ['stage'],
  buckets: SECONDS,
  registers,
});
export const sinkErrors = new Counter({
  name: 'pgcdc_sink_errors_total',
  help: 'Failed sink operations by stage and error class (retryable, permanent, bad-input, unknown).',
  labelNames: ['stage', 'class'],
  registers,
});
export const storageRequests = new Counter({
  name: 'pgcdc_storage_requests_total',
  help: 'Object store requests by operation (put, put_if_absent, get, list, delete, head). S3 bills per request.',
  labelNames: ['store', 'op'],
  registers,
});
export const storageBytesWritten = new Counter({
  name: 'pgcdc_storage_bytes_written_total',
  help: 'Bytes written to the object store through put and put_if_absent (DuckDB writes Parquet on its own).',
  labelNames: ['store'],
  registers,
});
export const casConflicts = new Counter({
  name: 'pgcdc_cas_conflicts_total',
  help: 'Compare-and-swap commits lost to another writer: an existing object (put_if_absent) or a moved catalog pointer.',
  labelNames: ['kind'],
  registers,
});
export const catalogCommits = new Counter({
  name: 'pgcdc_iceberg_commits_total',
  help: 'Iceberg metadata commits (catalog pointer swaps) that succeeded.',
  registers,
});

// Maintenance.
export const compactionRuns = new Counter({
  name: 'pgcdc_compaction_runs_total',
  help: 'Compaction commits by outcome (committed, stale, failed).',
  labelNames: ['outcome'],
  registers,
});
export const compactionSeconds = new Histogram({
  name: 'pgcdc_compaction_seconds',
  help: 'Time per compaction step: rewrite (beside the epochs) and commit (in the table actor, with expiry and cleanup).',
  labelNames: ['step'],
  buckets: SECONDS,
  registers,
});
export const compactionFilesRewritten = new Counter({
  name: 'pgcdc_compaction_files_rewritten_total',
  help: 'Data and delete files replaced by compaction.',
  registers,
});
export const snapshotsExpired = new Counter({
  name: 'pgcdc_snapshots_expired_total',
  help: 'Iceberg snapshots expired.',
  registers,
});
export const filesDeleted = new Counter({
  name: 'pgcdc_files_deleted_total',
  help: 'Files deleted by expiry and the orphan sweep, by kind (data, metadata, orphan).',
  labelNames: ['kind'],
  registers,
});

/** A family read apart from the work it describes failed to be read; the work itself went on. */
export const metricsCollectErrors = new Counter({
  name: 'pgcdc_metrics_collect_errors_total',
  help: 'Readings of a family that failed (the registry or the lake did not answer), by family.',
  labelNames: ['family'],
  registers,
});

/** Seconds since `started` (performance.now()), for a histogram observation. */
export const secondsSince = (started: number): number => (performance.now() - started) / 1000;

/** The class label of a failure: its catalog class for a pg-cdc error, `unknown` for anything else. */
export function failureClassLabel(error: unknown): string {
  return isPgCdcError(error) ? failureOf(error.code).class : 'unknown';
}

/** Runs `work` as one observation of `stage`: its time, and its failure by class. */
export async function timeStage<T>(stage: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } catch (error) {
    sinkErrors.inc({ stage, class: failureClassLabel(error) });
    throw error;
  } finally {
    sinkStageSeconds.observe({ stage }, secondsSince(started));
  }
}
