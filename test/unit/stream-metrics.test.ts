import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { bindStreamSource, configureMetrics, renderMetrics } from '../../core/metrics/index.js';
import { parseLsnText } from '../../core/lsn/index.js';
import type { TableFailure } from '../../stream/committer.js';
import { StreamMetrics } from '../../stream/metrics.js';

const failure: TableFailure = {
  table: 'public.bad',
  epoch: 7,
  firstLsn: parseLsnText('0/16B3748'),
  lastLsn: parseLsnText('0/16B3900'),
  code: 'LAKE_CORRUPT',
  message: 'table metadata is not valid JSON',
  hint: 'inspect it',
  at: '2026-01-01T00:00:00.000Z',
};

describe('the stream metrics', () => {
  afterEach(() => {
    bindStreamSource(undefined);
    configureMetrics({ tableLabels: false });
  });

  it('count no failed table while every table streams', async () => {
    const metrics = new StreamMetrics();
    bindStreamSource(() => metrics);
    assert.match(await renderMetrics(), /^pgcdc_tables_failed 0$/m);
    assert.doesNotMatch(await renderMetrics(), /^pgcdc_table_failed\{/m);
    assert.deepEqual(metrics.snapshot().failed_tables, []);
  });

  it('report the running totals of the bound stream, which only grow', async () => {
    configureMetrics({ tableLabels: false });
    const metrics = new StreamMetrics();
    bindStreamSource(() => metrics);
    metrics.transactions = 3;
    metrics.changes = 10;
    metrics.pausedMs = 1500;
    assert.match(await renderMetrics(), /^pgcdc_stream_transactions_total 3$/m);
    metrics.transactions = 5;
    const text = await renderMetrics();
    assert.match(text, /^pgcdc_stream_transactions_total 5$/m);
    assert.match(text, /^pgcdc_stream_changes_total 10$/m);
    assert.match(text, /^pgcdc_stream_paused_seconds_total 1.5$/m);
    assert.match(text, /^pgcdc_process_resident_memory_bytes \d+$/m);
  });

  it('name a failed table only with metrics.table_labels, and count it always', async () => {
    const metrics = new StreamMetrics();
    bindStreamSource(() => metrics);
    metrics.tableFailed(failure);
    metrics.epochCommitted('public.good', {
      table: 'public.good',
      epoch: 4,
      committedLsn: parseLsnText('0/16B3900'),
      stateSnapshotId: '1',
      changesSnapshotId: '2',
      rowsInserted: 1,
      rowsDeleted: 0,
      changes: 9,
      committed: true,
    });
    const hidden = await renderMetrics();
    assert.match(hidden, /^pgcdc_tables_failed 1$/m);
    assert.doesNotMatch(hidden, /table="/);
    configureMetrics({ tableLabels: true });
    const labelled = await renderMetrics();
    assert.match(labelled, /^pgcdc_table_failed\{table="public\.bad",code="LAKE_CORRUPT"\} 7$/m);
    assert.match(labelled, /^pgcdc_table_epoch\{table="public\.good"\} 4$/m);
    assert.match(labelled, /^pgcdc_table_changes_total\{table="public\.good"\} 9$/m);
    assert.deepEqual(metrics.snapshot().failed_tables, [failure]);
  });
});
