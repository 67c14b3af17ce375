import type { StreamSource } from '../core/metrics/index.js';
import type { EpochCommit } from '../lake/state/types.js';
import type { TableFailure } from './committer.js';

export interface TableStreamState {
  epoch: number;
  committedLsn: string;
  changes: number;
  lastCommitAt: string;
}

/**
 * The stream worker's counters and gauges: written to the status file, and read by the Prometheus families of
 * core/metrics when scraped (the stream service binds itself as their source).
 */
export class StreamMetrics implements StreamSource {
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
}
