import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { formatLsn } from '../../core/lsn/index.js';
import { configureMetrics, recordPromotionLag, renderMetrics } from '../../core/metrics/index.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import { LocalCatalog } from '../../lake/catalog/local.js';
import { pgcdcSummary } from '../../lake/contract/index.js';
import { headSnapshot, withMainAt, withStagingBranch } from '../../lake/iceberg/refs.js';
import { appendFiles, commitMetadata, createTable, loadTableMetadata } from '../../lake/iceberg/table.js';
import { measurePromotionLag, promotionLagOf } from '../../lake/state/promotion-lag.js';
import { FilesystemObjectStore } from '../../lake/storage/filesystem.js';
import { tempDir } from '../support/temp.js';

const schema: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  fields: [{ id: 1, name: 'id', required: true, type: 'long' }],
};

/** A lake whose table `public.t` has a base at LSN 0x1000 and, on staging, epochs ending at `epochs`' LSNs. */
async function lakeWithEpochs(epochs: readonly number[]) {
  const store = new FilesystemObjectStore(tempDir('pg-cdc-promotion-lag-'));
  const catalog = new LocalCatalog(store);
  await createTable(store, catalog, { identifier: 'public.t', location: 'public/t', schema });
  const summary = (kind: 'snapshot' | 'epoch', epoch: number, lsn: number) =>
    pgcdcSummary({ kind, epoch, lsn: formatLsn(BigInt(lsn)) });
  await appendFiles(store, catalog, 'public.t', { dataFiles: [], summary: summary('snapshot', 0, 0x1000) });
  const base = await loadTableMetadata(store, catalog, 'public.t');
  await commitMetadata(store, catalog, base, withStagingBranch(base.metadata));
  for (const [i, lsn] of epochs.entries()) {
    await new Promise((tick) => setTimeout(tick, 5));
    await appendFiles(store, catalog, 'public.t', { dataFiles: [], summary: summary('epoch', i + 1, lsn) });
  }
  return { store, catalog };
}

describe('the promotion lag', () => {
  afterEach(() => configureMetrics({ tableLabels: false }));

  it('counts the snapshots, commit time and WAL staging holds beyond main, and none once main caught up', async () => {
    const lake = await lakeWithEpochs([0x1800, 0x2000]);
    const table = await loadTableMetadata(lake.store, lake.catalog, 'public.t');
    const lag = promotionLagOf(table.metadata);
    assert.equal(lag.snapshots, 2);
    assert.equal(lag.bytes, 0x1000);
    assert.ok(lag.seconds > 0 && lag.seconds < 60, `${lag.seconds}`);

    const head = headSnapshot(table.metadata)!;
    await commitMetadata(lake.store, lake.catalog, table, withMainAt(table.metadata, head['snapshot-id']));
    const lags = await measurePromotionLag(lake, ['public.t']);
    assert.deepEqual(lags.get('public.t'), { snapshots: 0, seconds: 0, bytes: 0 });
  });

  it('exports the furthest table without table labels, and each table with them', async () => {
    const lags = new Map([
      ['public.a', { snapshots: 3, seconds: 12.5, bytes: 4096 }],
      ['public.b', { snapshots: 5, seconds: 2, bytes: 100 }],
    ]);
    recordPromotionLag(lags);
    const furthest = await renderMetrics();
    assert.match(furthest, /^pgcdc_promotion_lag_snapshots 5$/m);
    assert.match(furthest, /^pgcdc_promotion_lag_seconds 12.5$/m);
    assert.match(furthest, /^pgcdc_promotion_lag_bytes 4096$/m);
    assert.doesNotMatch(furthest, /pgcdc_promotion_lag_\w+\{table=/);

    configureMetrics({ tableLabels: true });
    recordPromotionLag(lags);
    const labelled = await renderMetrics();
    assert.match(labelled, /^pgcdc_promotion_lag_snapshots\{table="public\.a"\} 3$/m);
    assert.match(labelled, /^pgcdc_promotion_lag_bytes\{table="public\.b"\} 100$/m);
    assert.doesNotMatch(labelled, /^pgcdc_promotion_lag_snapshots 5$/m);
  });
});
