import { Counter, Gauge } from 'prom-client';
import { processRegistry, tableLabelsEnabled } from './registry.js';

/**
 * The lake's health beyond the sink's own stages: the conflict breaker, S3's error answers, the catalog against the
 * lake, and how far `main` is behind `staging`. Defined once here; lake/ records them where each fact is decided.
 */
const registers = [processRegistry];

// The dual-writer conflict breaker (lake/storage/breaker.ts).
export const breakerTrips = new Counter({
  name: 'pgcdc_cas_breaker_trips_total',
  help: 'Conflict breaker trips: too many lost compare-and-swap writes, this process stopped writing to a lake.',
  registers,
});
export const breakersTripped = new Gauge({
  name: 'pgcdc_cas_breaker_tripped',
  help: 'Lakes whose conflict breaker has tripped in this process (it refuses their writes until restarted).',
  registers,
});

// S3 (lake/storage/s3-errors.ts): every error answer, the SDK's retried attempts included.
export const s3RequestErrors = new Counter({
  name: 'pgcdc_s3_request_errors_total',
  help: 'S3 request attempts that failed, by operation and status class (4xx, 5xx, network); retried ones included.',
  labelNames: ['op', 'status_class'],
  registers,
});

// The catalog against the lake (lake/catalog/register.ts, lake/catalog/glue-hive.ts).
export const catalogSyncTables = new Counter({
  name: 'pgcdc_catalog_sync_tables_total',
  help: 'Tables a catalog re-sync checked, by outcome (in_sync, created, updated, published).',
  labelNames: ['outcome'],
  registers,
});
export const catalogDriftTables = new Gauge({
  name: 'pgcdc_catalog_drift_tables',
  help: 'Tables the last catalog re-sync found drifted from the lake (and healed).',
  registers,
});
export const catalogPublishes = new Counter({
  name: 'pgcdc_catalog_publishes_total',
  help: 'Hive tables created or updated in Glue to list a new base (catalog.type glue).',
  registers,
});

/** How far `main` is behind `staging` in one table. */
export interface PromotionLag {
  /** Snapshots on staging that main does not have. */
  readonly snapshots: number;
  /** Commit time of staging's head minus that of main's snapshot. */
  readonly seconds: number;
  /** WAL between main's LSN and staging head's. */
  readonly bytes: number;
}

const lagGauge = (name: string, help: string) =>
  new Gauge({ name, help: `${help} (per table with metrics.table_labels).`, labelNames: ['table'], registers });
const promotionLagGauges = {
  snapshots: lagGauge('pgcdc_promotion_lag_snapshots', 'Snapshots main is behind staging, the furthest table'),
  seconds: lagGauge('pgcdc_promotion_lag_seconds', 'Seconds of commits main is behind staging, the furthest table'),
  bytes: lagGauge('pgcdc_promotion_lag_bytes', 'WAL bytes main is behind staging, the furthest table'),
};

/**
 * Records the promotion lag of every table, as just computed: without table labels one series per gauge, the
 * furthest table's figure; with them one series per table. Tables not in `lags` (dropped) lose their series.
 */
export function recordPromotionLag(lags: ReadonlyMap<string, PromotionLag>): void {
  for (const [key, gauge] of Object.entries(promotionLagGauges) as [keyof PromotionLag, Gauge][]) {
    gauge.reset();
    if (tableLabelsEnabled()) for (const [table, lag] of lags) gauge.set({ table }, lag[key]);
    else gauge.set(Math.max(0, ...[...lags.values()].map((lag) => lag[key])));
  }
}
