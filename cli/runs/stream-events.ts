import type { StreamMetrics } from '../../stream/metrics.js';
import type { RunRecorder } from './recorder.js';

const STATE_EVERY_MS = 60_000;

/**
 * The run artifacts of `pg-cdc start`, from the stream's status (reported every second): an `epoch.committed` event
 * per table epoch that landed since the last report, a `table.failed` event per table that stopped, and state.json
 * every minute. Reading the status keeps the stream worker free of anything to do with artifacts.
 */
export function recordStream(run: RunRecorder): {
  observe(metrics: StreamMetrics): void;
  final(metrics: StreamMetrics): void;
} {
  const epochs = new Map<string, number>();
  const failed = new Set<string>();
  let stateAt = 0;
  const observe = (metrics: StreamMetrics): void => {
    for (const [table, state] of Object.entries(metrics.tables)) {
      if ((epochs.get(table) ?? -1) >= state.epoch) continue;
      epochs.set(table, state.epoch);
      run.event('epoch.committed', {
        table,
        epoch: state.epoch,
        committed_lsn: state.committedLsn,
        changes_total: state.changes,
      });
    }
    for (const failure of Object.values(metrics.failedTables)) {
      if (failed.has(failure.table)) continue;
      failed.add(failure.table);
      run.event('table.failed', {
        table: failure.table,
        epoch: failure.epoch,
        first_lsn: failure.firstLsn,
        code: failure.code,
        message: failure.message,
        ...(failure.hint ? { hint: failure.hint } : {}),
      });
    }
    if (Date.now() - stateAt >= STATE_EVERY_MS) {
      stateAt = Date.now();
      run.state(stateOf(metrics));
    }
  };
  return {
    observe,
    final(metrics) {
      observe(metrics);
      run.state(stateOf(metrics));
    },
  };
}

function stateOf(metrics: StreamMetrics): Record<string, unknown> {
  const snapshot = metrics.snapshot();
  const oldest = metrics.oldestWaitingCommitTime;
  return {
    updated_at: snapshot.updated_at,
    read_lsn: metrics.readLsn,
    confirmed_lsn: metrics.confirmedLsn,
    lag_seconds: oldest ? Math.max(0, (Date.now() - Date.parse(oldest)) / 1000) : 0,
    lag_bytes: metrics.lagBytes ?? null,
    retained_wal_bytes: metrics.retainedWalBytes ?? null,
    spool_bytes: metrics.spoolBytes,
    transactions: metrics.transactions,
    changes: metrics.changes,
    tables: metrics.tables,
    failed_tables: Object.keys(metrics.failedTables),
  };
}
