import type { EpochCommit } from '../lake/state/types.js';
import type { TableFailure } from './committer.js';

export interface TableStreamState {
  epoch: number;
  committedLsn: string;
  changes: number;
  lastCommitAt: string;
}

/** The stream worker's counters and gauges: served as Prometheus text and written to the status file. */
export class StreamMetrics {
  readonly startedAt = new Date().toISOString();
  transactions = 0;
  changes = 0;
  reconnects = 0;
  /** Relation messages that changed a table's columns. */
  schemaChanges = 0;
  heartbeats = 0;
  pausedMs = 0;
  spoolBytes = 0;
  readLsn = '0/0';
  confirmedLsn = '0/0';
  currentWalLsn: string | undefined;
  retainedWalBytes: number | undefined;
  lagBytes: number | undefined;
  guardrailExceeded = false;
  /** Source commit time of the oldest change read but not yet in the lake; undefined when nothing waits. */
  oldestWaitingCommitTime: string | undefined;
  readonly tables: Record<string, TableStreamState> = {};
  /** Tables stopped by a permanent failure of an epoch, until the next start. */
  readonly failedTables: Record<string, TableFailure> = {};

  epochCommitted(table: string, result: EpochCommit): void {
    const previous = this.tables[table];
    this.tables[table] = {
      epoch: result.epoch,
      committedLsn: result.committedLsn,
      changes: (previous?.changes ?? 0) + result.changes,
      lastCommitAt: new Date().toISOString(),
    };
  }

  tableFailed(failure: TableFailure): void {
    this.failedTables[failure.table] = failure;
  }

  snapshot(): Record<string, unknown> {
    return {
      pid: process.pid,
      updated_at: new Date().toISOString(),
      started_at: this.startedAt,
      transactions: this.transactions,
      changes: this.changes,
      reconnects: this.reconnects,
      schema_changes: this.schemaChanges,
      heartbeats: this.heartbeats,
      paused_ms: this.pausedMs,
      spool_bytes: this.spoolBytes,
      read_lsn: this.readLsn,
      confirmed_lsn: this.confirmedLsn,
      current_wal_lsn: this.currentWalLsn ?? null,
      retained_wal_bytes: this.retainedWalBytes ?? null,
      lag_bytes: this.lagBytes ?? null,
      guardrail_exceeded: this.guardrailExceeded,
      oldest_waiting_commit_time: this.oldestWaitingCommitTime ?? null,
      tables: this.tables,
      failed_tables: Object.values(this.failedTables),
    };
  }

  prometheus(): string {
    const lines: string[] = [];
    const metric = (
      name: string,
      type: 'counter' | 'gauge',
      help: string,
      value: number | undefined,
      labels = '',
    ): void => {
      if (!lines.some((l) => l.startsWith(`# TYPE ${name} `)))
        lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      if (value !== undefined) lines.push(`${name}${labels} ${value}`);
    };
    metric('pgcdc_stream_transactions_total', 'counter', 'Source transactions read.', this.transactions);
    metric('pgcdc_stream_changes_total', 'counter', 'Row changes read.', this.changes);
    metric('pgcdc_stream_reconnects_total', 'counter', 'Replication reconnects.', this.reconnects);
    metric('pgcdc_stream_schema_changes_total', 'counter', 'Column changes followed.', this.schemaChanges);
    metric('pgcdc_stream_heartbeats_total', 'counter', 'Heartbeat messages emitted.', this.heartbeats);
    metric(
      'pgcdc_stream_paused_seconds_total',
      'counter',
      'Time reading was paused by a full spool.',
      this.pausedMs / 1000,
    );
    metric('pgcdc_spool_bytes', 'gauge', 'Bytes of committed transactions waiting for the lake.', this.spoolBytes);
    metric(
      'pgcdc_slot_lag_bytes',
      'gauge',
      'WAL between the server position and the confirmed position.',
      this.lagBytes,
    );
    metric('pgcdc_slot_retained_wal_bytes', 'gauge', 'WAL the slot keeps on the server.', this.retainedWalBytes);
    const waiting = this.oldestWaitingCommitTime ? (Date.now() - Date.parse(this.oldestWaitingCommitTime)) / 1000 : 0;
    metric('pgcdc_lag_seconds', 'gauge', 'Age of the oldest change read but not yet committed to the lake.', waiting);
    metric(
      'pgcdc_guardrail_exceeded',
      'gauge',
      '1 when retained WAL is above guardrail.max_retained_wal_bytes.',
      this.guardrailExceeded ? 1 : 0,
    );
    for (const [table, state] of Object.entries(this.tables)) {
      const labels = `{table=${JSON.stringify(table)}}`;
      metric('pgcdc_table_epoch', 'gauge', 'Last committed epoch per table.', state.epoch, labels);
      metric('pgcdc_table_changes_total', 'counter', 'Changes committed per table.', state.changes, labels);
    }
    metric(
      'pgcdc_tables_failed',
      'gauge',
      'Tables stopped by a permanent epoch failure.',
      Object.keys(this.failedTables).length,
    );
    for (const failure of Object.values(this.failedTables)) {
      const labels = `{table=${JSON.stringify(failure.table)},code=${JSON.stringify(failure.code)}}`;
      metric(
        'pgcdc_table_failed',
        'gauge',
        'The epoch at which a table failed, by table and error code.',
        failure.epoch,
        labels,
      );
    }
    return `${lines.join('\n')}\n`;
  }
}
