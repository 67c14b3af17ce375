/**
 * Waiting for `main`: epochs commit to `staging` and the promotion workflow moves `main` to the slot's cut (every
 * flush interval in auto mode), so a test that reads `main` (PyIceberg, DuckDB's iceberg_scan, `pg-cdc query`)
 * after its rows reached the lake waits here first.
 */
import { SUMMARY_KEY } from '../../lake/contract/index.js';
import { branchSnapshot, headSnapshot } from '../../lake/iceberg/refs.js';
import { loadTableMetadata } from '../../lake/iceberg/table.js';
import type { Lake } from '../../lake/open.js';
import { parseLsn } from '../../core/lsn/index.js';
import { runCli } from './cli.js';
import { eventually } from './stream.js';

type LakeTables = Pick<Lake, 'store' | 'catalog'>;

/** What `main` of each table must reach: `atLsn`, or by default each table's head (`staging` when it has one) now. */
async function targets(lake: LakeTables, tables: readonly string[], atLsn?: string): Promise<Map<string, bigint>> {
  const wanted = new Map<string, bigint>();
  for (const table of tables) {
    const head = headSnapshot((await loadTableMetadata(lake.store, lake.catalog, table)).metadata);
    const lsn = atLsn ?? head?.summary[SUMMARY_KEY.lsn];
    if (lsn !== undefined) wanted.set(table, parseLsn(lsn));
  }
  return wanted;
}

/** True when `main` of every table is at or after its target, else which one is not. */
async function mainReached(lake: LakeTables, wanted: ReadonlyMap<string, bigint>): Promise<true | string> {
  for (const [table, target] of wanted) {
    const main = branchSnapshot((await loadTableMetadata(lake.store, lake.catalog, table)).metadata, 'main');
    const at = main?.summary[SUMMARY_KEY.lsn];
    if (at === undefined || parseLsn(at) < target) return `${table}: main at ${at ?? 'nothing'}, not yet at ${target}`;
  }
  return true;
}

/**
 * Waits until `main` of every table is at or after `atLsn` (by default: each table's head as it is now). A table
 * without `staging` has `main` as its head, so it has caught up at once.
 */
export async function mainCaughtUp(
  lake: LakeTables,
  tables: readonly string[],
  options: { readonly atLsn?: string; readonly timeoutMs?: number } = {},
): Promise<void> {
  const wanted = await targets(lake, tables, options.atLsn);
  await eventually(() => mainReached(lake, wanted), options.timeoutMs);
}

/**
 * Moves `main` of every table up to its head as it is now with `pg-cdc promote --force`, for a test that read
 * breaking changes (a DROP or RENAME COLUMN, a type change) and then reads `main`: auto mode promotes those only
 * when forced. Promotes again until the slot's cut has passed every head.
 */
export async function forceMainCaughtUp(
  configPath: string,
  lake: LakeTables,
  tables: readonly string[],
): Promise<void> {
  const wanted = await targets(lake, tables);
  await eventually(async () => {
    const reached = await mainReached(lake, wanted);
    if (reached === true) return true;
    const forced = await runCli(['--config', configPath, 'promote', '--force', '--reason', 'breaking change reviewed']);
    return forced.code === 0 ? reached : `promote --force: ${forced.stdout}${forced.stderr}`;
  });
}
