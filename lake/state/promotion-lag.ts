import { parseLsn } from '../../core/lsn/index.js';
import type { PromotionLag } from '../../core/metrics/index.js';
import type { Catalog } from '../catalog/index.js';
import { summaryLsn } from '../contract/index.js';
import type { TableMetadata } from '../iceberg/metadata.js';
import {
  branchHistory,
  branchSnapshot,
  hasStaging,
  headSnapshot,
  MAIN_BRANCH,
  STAGING_BRANCH,
} from '../iceberg/refs.js';
import { loadTableMetadata } from '../iceberg/table.js';
import type { ObjectStore } from '../storage/index.js';

const NONE: PromotionLag = { snapshots: 0, seconds: 0, bytes: 0 };

/**
 * How far a table's `main` is behind its `staging` head: the snapshots staging has that main does not, the time
 * between their commits, and the WAL between their LSNs. A table without staging is not behind: its `main` is its
 * head. A `main` not on staging's chain (none yet, or expired) is as far behind as the whole chain.
 */
export function promotionLagOf(metadata: TableMetadata): PromotionLag {
  if (!hasStaging(metadata)) return NONE;
  const head = headSnapshot(metadata);
  const history = branchHistory(metadata, STAGING_BRANCH);
  const main = branchSnapshot(metadata, MAIN_BRANCH);
  const at = main ? history.findIndex((s) => s['snapshot-id'] === main['snapshot-id']) : -1;
  const snapshots = at >= 0 ? at : history.length;
  // With no main, the lag runs from the oldest snapshot staging still has.
  const since = main ?? history.at(-1);
  if (!head || !since || snapshots === 0) return NONE;
  const headLsn = summaryLsn(head.summary);
  const sinceLsn = summaryLsn(since.summary);
  const bytes = headLsn && sinceLsn ? Number(parseLsn(headLsn) - parseLsn(sinceLsn)) : 0;
  return {
    snapshots,
    seconds: Math.max(0, head['timestamp-ms'] - since['timestamp-ms']) / 1000,
    bytes: Math.max(0, bytes),
  };
}

/** The promotion lag of each of `tables` (state tables), read from their current metadata. */
export async function measurePromotionLag(
  lake: { readonly store: ObjectStore; readonly catalog: Catalog },
  tables: readonly string[],
): Promise<Map<string, PromotionLag>> {
  const lags = new Map<string, PromotionLag>();
  for (const table of tables) {
    lags.set(table, promotionLagOf((await loadTableMetadata(lake.store, lake.catalog, table)).metadata));
  }
  return lags;
}
