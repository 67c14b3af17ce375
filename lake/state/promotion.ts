import { PgCdcError } from '../../core/errors/index.js';
import type { Logger } from '../../core/log/index.js';
import { formatLsn, parseLsn, tryParseLsn, type LsnText } from '../../core/lsn/index.js';
import type { IcebergField } from '../../core/types/iceberg.js';
import type { Catalog } from '../catalog/index.js';
import {
  changelogIdentifier,
  classifyColumns,
  SUMMARY_KEY,
  summaryLsn,
  worstClass,
  type ColumnsDiff,
  type DiffClass,
} from '../contract/index.js';
import { CommitConflictError, TableNotFoundError } from '../errors.js';
import type { Snapshot, TableMetadata } from '../iceberg/metadata.js';
import {
  branchHistory,
  branchSnapshot,
  hasStaging,
  headSnapshot,
  isAncestor,
  MAIN_BRANCH,
  STAGING_BRANCH,
  withMainAt,
  withStagingBranch,
} from '../iceberg/refs.js';
import { commitMetadata, loadTableMetadata, type LoadedTable } from '../iceberg/table.js';
import type { MainRecord, ManifestStore, PgCdcManifest } from '../manifest.js';
import type { ObjectStore } from '../storage/index.js';

/**
 * Promotion: `main` of every table fast-forwarded to `staging` at one LSN cut, gated by the contract diff.
 *
 * The cut. The stream worker acknowledges the slot only as far as every table has committed (stream/checkpoint.ts):
 * its confirmed position C is the oldest commit LSN still waiting in any table's spool, or, with nothing waiting,
 * past the last commit read. So every transaction whose commit LSN is below C is in the lake for every table it
 * touched. Tables seal their epochs independently, so one table's epoch may hold transactions on both sides of C.
 * Each epoch's snapshot records the commit LSNs of its first and last transaction (`pgcdc.first-lsn`, `pgcdc.lsn`),
 * so a table's snapshot S holds exactly the table's transactions below X for every X with lsn(S) < X ≤ first(N),
 * N the next epoch on staging (for the newest snapshot: X ≤ C, as nothing of the table below C is missing). The
 * promotion takes the highest X at or below C that every table's snapshots admit, and moves each table's `main` to
 * the snapshot admitting it. A table idle since its last epoch admits every X above it; a compaction's snapshot (and
 * an epoch without transactions) holds what its parent held and admits the same. Snapshots that end above X stay on
 * staging. Promoted together, the tables of `main` are one point of the source: every transaction below X, none at
 * or above it, so a join across them sees no half of a transaction.
 *
 * Each table's `main` moves in its own metadata commit (a filesystem catalog has no multi-table transaction); the
 * manifest's `main` record, written last, is the atomic database-wide statement of the cut. A promotion that dies in
 * between is completed by running it again: moving `main` to where it already is changes nothing.
 */
export interface PromotionContext {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  readonly manifest: ManifestStore;
  readonly log: Logger;
}

export interface PromotionRequest {
  /** The slot's confirmed position: every transaction committed below it is in every table. */
  readonly slotLsn: LsnText;
  /** Promote even a breaking diff. */
  readonly force: boolean;
  /** Compute the diff; move nothing. */
  readonly dryRun: boolean;
  readonly by: string;
  readonly reason: string;
}

/** One side of a table: a snapshot id (null: the table has none there), its LSN and schema id. */
export interface RefPoint {
  readonly snapshotId: string | null;
  readonly lsn: string | null;
  readonly schemaId: number | null;
}

export interface TablePromotion extends Omit<ColumnsDiff, 'classification'> {
  readonly table: string;
  readonly classification: DiffClass;
  readonly main: RefPoint;
  /** Where `main` moves to: the newest staging snapshot below the cut. */
  readonly target: RefPoint;
  /** Staging's head, which may be past the cut. */
  readonly staging: RefPoint;
  readonly moves: boolean;
}

export interface PromotionDiff {
  readonly cutLsn: string;
  readonly classification: DiffClass;
  /** False exactly when the diff is breaking: then only a forced promotion goes ahead. */
  readonly promoteSafe: boolean;
  readonly tables: readonly TablePromotion[];
}

export interface PromotionOutcome {
  readonly promoted: boolean;
  readonly dryRun: boolean;
  /** Why nothing moved, when `promoted` is false and this is not a dry run. */
  readonly refused?: string;
  readonly diff: PromotionDiff;
  /** The manifest's `main` record after a promotion. */
  readonly record?: MainRecord;
}

const point = (metadata: TableMetadata, snapshot: Snapshot | undefined): RefPoint => ({
  snapshotId: snapshot ? String(snapshot['snapshot-id']) : null,
  lsn: snapshot ? (summaryLsn(snapshot.summary) ?? null) : null,
  schemaId: snapshot ? (snapshot['schema-id'] ?? metadata['current-schema-id']) : null,
});

/** A table state on staging: the snapshot holding it, and the cuts X it is exact for (`low < X ≤ high`). */
interface Admits {
  readonly snapshot: Snapshot;
  readonly low: bigint;
  readonly high: bigint;
}

const lsnOf = (snapshot: Snapshot, key: string): bigint | undefined =>
  tryParseLsn(snapshot.summary[key] ?? '') ?? undefined;

/**
 * The cuts each state on a table's staging admits, oldest first, the newest up to the slot's position. Snapshots
 * that add no transaction (a compaction, an empty epoch) merge into the state before them, named by the newest.
 * An epoch written without `pgcdc.first-lsn` admits only the cut right above the state before it.
 */
export function admittedCuts(metadata: TableMetadata, slotLsn: bigint): Admits[] {
  if (!hasStaging(metadata)) {
    const head = headSnapshot(metadata);
    return head ? [{ snapshot: head, low: -1n, high: slotLsn }] : [];
  }
  const chain = branchHistory(metadata, STAGING_BRANCH).reverse();
  const states: { snapshot: Snapshot; lsn: bigint; first?: bigint }[] = [];
  for (const snapshot of chain) {
    const lsn = lsnOf(snapshot, SUMMARY_KEY.lsn);
    if (lsn === undefined) continue;
    const previous = states.at(-1);
    const addsNothing = previous && (lsn <= previous.lsn || snapshot.summary[SUMMARY_KEY.kind] === 'compaction');
    if (previous && addsNothing) previous.snapshot = snapshot;
    else {
      // The base holds every transaction below its LSN (the consistent point), an epoch those at or below its own.
      const base = snapshot.summary[SUMMARY_KEY.kind] === 'snapshot';
      states.push({ snapshot, lsn: base ? lsn - 1n : lsn, first: lsnOf(snapshot, SUMMARY_KEY.firstLsn) });
    }
  }
  return states.map((state, i) => {
    const next = states[i + 1];
    const high = next ? (next.first ?? state.lsn + 1n) : slotLsn;
    return { snapshot: state.snapshot, low: state.lsn, high: high < slotLsn ? high : slotLsn };
  });
}

/**
 * The highest cut at or below the slot's position that every table admits, and the snapshot of each table at it;
 * undefined when none does (a table's staging history expired between two states).
 */
export function consistentCut(
  tables: ReadonlyMap<string, Admits[]>,
  slotLsn: bigint,
): { cut: bigint; at: Map<string, Snapshot> } | undefined {
  const candidates = [...new Set([slotLsn, ...[...tables.values()].flat().map((a) => a.high)])]
    .filter((x) => x <= slotLsn)
    .sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  for (const cut of candidates) {
    const at = new Map<string, Snapshot>();
    for (const [table, admits] of tables) {
      const found = admits.find((a) => a.low < cut && cut <= a.high);
      if (!found) break;
      at.set(table, found.snapshot);
    }
    if (at.size === tables.size) return { cut, at };
  }
  return undefined;
}

const fieldsAt = (metadata: TableMetadata, schemaId: number | null): Map<number, IcebergField> => {
  const schema = metadata.schemas.find((s) => s['schema-id'] === schemaId);
  return new Map((schema?.fields ?? []).map((f) => [f.id, f]));
};

async function loadChangelog(ctx: PromotionContext, table: string): Promise<LoadedTable | undefined> {
  try {
    return await loadTableMetadata(ctx.store, ctx.catalog, changelogIdentifier(table));
  } catch (error) {
    if (error instanceof TableNotFoundError) return undefined;
    throw error;
  }
}

function planTable(
  table: string,
  state: TableMetadata,
  primaryKey: readonly string[],
  at: Snapshot | undefined,
): TablePromotion {
  const mainSnapshot = branchSnapshot(state, MAIN_BRANCH);
  // Never backwards: a cut that would name a snapshot before main's leaves main where it is.
  const forward = at && (!mainSnapshot || isAncestor(state, mainSnapshot['snapshot-id'], at)) ? at : mainSnapshot;
  const main = point(state, mainSnapshot);
  const target = point(state, forward);
  const columns = classifyColumns(
    { fields: fieldsAt(state, main.schemaId), primaryKey },
    { fields: fieldsAt(state, target.schemaId), primaryKey },
  );
  return {
    table,
    ...columns,
    main,
    target,
    staging: point(state, headSnapshot(state)),
    moves: target.snapshotId !== main.snapshotId,
  };
}

/** The diff a promotion would make at the highest consistent cut below `slotLsn`, classified as `get_diff` does. */
export async function planPromotion(ctx: PromotionContext, slotLsn: LsnText): Promise<PromotionDiff> {
  const manifest = (await ctx.manifest.read())?.value;
  const slot = parseLsn(slotLsn);
  const entries = Object.entries(manifest?.tables ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const loaded = await Promise.all(
    entries.map(async ([table]) => (await loadTableMetadata(ctx.store, ctx.catalog, table)).metadata),
  );
  const admits = new Map(entries.map(([table], i) => [table, admittedCuts(loaded[i]!, slot)]));
  const found = consistentCut(admits, slot);
  const tables = entries.map(([table, entry], i) =>
    planTable(table, loaded[i]!, entry.primary_key, found?.at.get(table)),
  );
  const classification = tables.reduce<DiffClass>((worst, t) => worstClass(worst, t.classification), 'safe');
  const cutLsn = found ? formatLsn(found.cut) : (manifest?.main?.cut_lsn ?? slotLsn);
  return { cutLsn, classification, promoteSafe: classification !== 'breaking', tables };
}

/** Moves one table's `main` to `target` (a staging snapshot); retried when an epoch commits meanwhile. */
async function moveMain(ctx: PromotionContext, identifier: string, target: bigint): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const table = await loadTableMetadata(ctx.store, ctx.catalog, identifier);
    const next = withMainAt(table.metadata, target);
    if (next === table.metadata) return;
    try {
      await commitMetadata(ctx.store, ctx.catalog, table, next);
      return;
    } catch (error) {
      if (!(error instanceof CommitConflictError) || attempt >= 5) throw error;
    }
  }
}

/** The changelog snapshot of the same epoch as the state's `target`: the changelog moves with its table. */
function changelogAt(changes: TableMetadata, epoch: string | undefined): Snapshot | undefined {
  if (epoch === undefined) return undefined;
  const main = branchSnapshot(changes, MAIN_BRANCH);
  const history = hasStaging(changes) ? branchHistory(changes, STAGING_BRANCH) : [];
  const found = history.find((s) => s.summary[SUMMARY_KEY.epoch] === epoch);
  return found && (!main || isAncestor(changes, main['snapshot-id'], found)) ? found : undefined;
}

/**
 * Promotes staging to main at the cut: refused (nothing moves) when the diff is breaking and not forced. The state
 * tables and their changelogs move together; the manifest's `main` record is written after every table moved.
 */
export async function promote(ctx: PromotionContext, request: PromotionRequest): Promise<PromotionOutcome> {
  const diff = await planPromotion(ctx, request.slotLsn);
  if (request.dryRun) return { promoted: false, dryRun: true, diff };
  if (!diff.promoteSafe && !request.force) {
    const breaking = diff.tables.filter((t) => t.classification === 'breaking').map((t) => t.table);
    return {
      promoted: false,
      dryRun: false,
      refused: `the diff is breaking (${breaking.join(', ')}): promoting it needs --force`,
      diff,
    };
  }
  // Nothing to move (auto mode's checks, a repeated request): the record stands, the manifest is not rewritten.
  if (diff.tables.every((t) => !t.moves)) {
    const recorded = (await ctx.manifest.read())?.value.main;
    return { promoted: true, dryRun: false, diff, ...(recorded ? { record: recorded } : {}) };
  }
  const tables: MainRecord['tables'] = {};
  for (const plan of diff.tables) {
    const changes = await loadChangelog(ctx, plan.table);
    const state = await loadTableMetadata(ctx.store, ctx.catalog, plan.table);
    const target = state.metadata.snapshots.find((s) => String(s['snapshot-id']) === plan.target.snapshotId);
    const changesTarget = changes && changelogAt(changes.metadata, target?.summary[SUMMARY_KEY.epoch]);
    if (changes && changesTarget) await moveMain(ctx, changes.identifier, changesTarget['snapshot-id']);
    if (target) await moveMain(ctx, plan.table, target['snapshot-id']);
    const changesMain =
      changes &&
      branchSnapshot((await loadTableMetadata(ctx.store, ctx.catalog, changes.identifier)).metadata, MAIN_BRANCH);
    tables[plan.table] = {
      state_snapshot_id: plan.target.snapshotId,
      changes_snapshot_id: changesMain ? String(changesMain['snapshot-id']) : null,
      lsn: plan.target.lsn ?? diff.cutLsn,
    };
  }
  const record: MainRecord = {
    cut_lsn: diff.cutLsn,
    promoted_at: new Date().toISOString(),
    promoted_by: request.by,
    reason: request.reason,
    classification: diff.classification,
    forced: !diff.promoteSafe,
    tables,
  };
  await ctx.manifest.update((current) => withMainRecord(current, record));
  ctx.log.info({ cutLsn: diff.cutLsn, classification: diff.classification, by: request.by }, 'promoted to main');
  return { promoted: true, dryRun: false, diff, record };
}

function withMainRecord(current: PgCdcManifest | undefined, record: MainRecord): PgCdcManifest {
  if (!current) throw new PgCdcError('LAKE_EMPTY', 'the lake has no manifest to record the promotion in');
  // A promotion that lost a race with a later one does not move the record back.
  const previous = current.main && parseLsn(current.main.cut_lsn);
  if (previous !== undefined && previous > parseLsn(record.cut_lsn)) return current;
  return { ...current, main: record };
}

/**
 * Forks `staging` at `main` in every table of the lake (and its changelog) that has no staging branch yet: from then
 * on epochs commit to staging and `main` waits for promotion. Idempotent.
 */
export async function holdMain(ctx: PromotionContext): Promise<string[]> {
  const manifest = (await ctx.manifest.read())?.value;
  const forked: string[] = [];
  for (const table of Object.keys(manifest?.tables ?? {})) {
    for (const identifier of [table, changelogIdentifier(table)]) {
      for (let attempt = 1; ; attempt++) {
        let loaded: LoadedTable;
        try {
          loaded = await loadTableMetadata(ctx.store, ctx.catalog, identifier);
        } catch (error) {
          if (error instanceof TableNotFoundError) break;
          throw error;
        }
        const next = withStagingBranch(loaded.metadata);
        if (next === loaded.metadata) break;
        try {
          await commitMetadata(ctx.store, ctx.catalog, loaded, next);
          forked.push(identifier);
          break;
        } catch (error) {
          if (!(error instanceof CommitConflictError) || attempt >= 5) throw error;
        }
      }
    }
  }
  return forked;
}
