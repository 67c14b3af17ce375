import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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

describe('the stream metrics of a failed table', () => {
  it('count no failed table while every table streams', () => {
    const metrics = new StreamMetrics();
    assert.match(metrics.prometheus(), /^pgcdc_tables_failed 0$/m);
    assert.doesNotMatch(metrics.prometheus(), /^pgcdc_table_failed\{/m);
    assert.deepEqual(metrics.snapshot().failed_tables, []);
  });

  it('name the table, its code and the epoch it stopped at, in Prometheus and in the status file', () => {
    const metrics = new StreamMetrics();
    metrics.tableFailed(failure);
    const text = metrics.prometheus();
    assert.match(text, /^pgcdc_tables_failed 1$/m);
    assert.match(text, /^pgcdc_table_failed\{table="public\.bad",code="LAKE_CORRUPT"\} 7$/m);
    assert.deepEqual(metrics.snapshot().failed_tables, [failure]);
  });
});
