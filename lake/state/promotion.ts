import { PgCdcError } from '../../core/errors/index.js';
import type { Logger } from '../../core/log/index.js';
import { parseLsn, tryParseLsn, type LsnText } from '../../core/lsn/index.js';
import type { IcebergField } from '../../core/types/iceberg.js';
import type { Catalog } from '../catalog/index.js';
import {
  changelogIdentifier,
  classifyColumns,
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
 * touched, and a transaction at or above C may be in some tables and not yet in others. An epoch's `pgcdc.lsn` is
 * the commit LSN of the last transaction it holds, so each table's newest staging snapshot whose `pgcdc.lsn` is
 * below C holds exactly the table's transactions below C: any later snapshot holds a transaction at or above C. A
 * table idle since its last epoch is complete below C too (nothing for it committed since), and its newest snapshot
 * is the one promoted; so is the snapshot base when no epoch came after it (main already names it). Snapshots of a
 * flush still committing while the promotion runs hold transactions at or above C and stay on staging. Promoted
 * together, the tables of `main` are one point of the source: a join across them sees no half of a transaction.
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
  /** Every transaction committed below this LSN is in every table (the slot's confirmed position). */
  readonly cutLsn: LsnText;
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

/** The newest snapshot of staging (or of the only branch) below the cut; main's own when none is. */
export function snapshotAtCut(metadata: TableMetadata, cut: bigint): Snapshot | undefined {
  const main = branchSnapshot(metadata, MAIN_BRANCH);
  if (!hasStaging(metadata)) return main;
  for (const snapshot of branchHistory(metadata, STAGING_BRANCH)) {
    const lsn = tryParseLsn(summaryLsn(snapshot.summary) ?? '');
    if (lsn !== undefined && lsn < cut) return snapshot;
    if (main && snapshot['snapshot-id'] === main['snapshot-id']) return main;
  }
  return main;
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

function planTable(table: string, state: TableMetadata, primaryKey: readonly string[], cut: bigint): TablePromotion {
  const main = point(state, branchSnapshot(state, MAIN_BRANCH));
  const target = point(state, snapshotAtCut(state, cut));
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

/** The diff a promotion at `cutLsn` would make, table by table, classified as `get_diff` classifies. */
export async function planPromotion(ctx: PromotionContext, cutLsn: LsnText): Promise<PromotionDiff> {
  const manifest = (await ctx.manifest.read())?.value;
  const cut = parseLsn(cutLsn);
  const tables = await Promise.all(
    Object.entries(manifest?.tables ?? {})
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(async ([table, entry]) => {
        const state = await loadTableMetadata(ctx.store, ctx.catalog, table);
        return planTable(table, state.metadata, entry.primary_key, cut);
      }),
  );
  const classification = tables.reduce<DiffClass>((worst, t) => worstClass(worst, t.classification), 'safe');
  return { cutLsn, classification, promoteSafe: classification !== 'breaking', tables };
}

/** Moves one table's `main` to the snapshot at the cut; retried when an epoch commits meanwhile. */
async function moveMain(ctx: PromotionContext, identifier: string, cut: bigint): Promise<string | null> {
  for (let attempt = 1; ; attempt++) {
    const table = await loadTableMetadata(ctx.store, ctx.catalog, identifier);
    const target = snapshotAtCut(table.metadata, cut);
    if (!target) return null;
    const next = withMainAt(table.metadata, target['snapshot-id']);
    if (next === table.metadata) return String(target['snapshot-id']);
    try {
      await commitMetadata(ctx.store, ctx.catalog, table, next);
      return String(target['snapshot-id']);
    } catch (error) {
      if (!(error instanceof CommitConflictError) || attempt >= 5) throw error;
    }
  }
}

/**
 * Promotes staging to main at the cut: refused (nothing moves) when the diff is breaking and not forced. The state
 * tables and their changelogs move together; the manifest's `main` record is written after every table moved.
 */
export async function promote(ctx: PromotionContext, request: PromotionRequest): Promise<PromotionOutcome> {
  const diff = await planPromotion(ctx, request.cutLsn);
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
  const recorded = (await ctx.manifest.read())?.value.main;
  // Nothing to move (auto mode's checks between flushes): the record stands, the manifest is not rewritten.
  if (recorded && diff.tables.every((t) => !t.moves)) return { promoted: true, dryRun: false, diff, record: recorded };
  const cut = parseLsn(request.cutLsn);
  const tables: MainRecord['tables'] = {};
  for (const plan of diff.tables) {
    const changes = await loadChangelog(ctx, plan.table);
    const changesId = changes ? await moveMain(ctx, changes.identifier, cut) : null;
    const stateId = await moveMain(ctx, plan.table, cut);
    const state = await loadTableMetadata(ctx.store, ctx.catalog, plan.table);
    const at = state.metadata.snapshots.find((s) => String(s['snapshot-id']) === stateId);
    tables[plan.table] = {
      state_snapshot_id: stateId,
      changes_snapshot_id: changesId,
      lsn: (at && summaryLsn(at.summary)) ?? request.cutLsn,
    };
  }
  const record: MainRecord = {
    cut_lsn: request.cutLsn,
    promoted_at: new Date().toISOString(),
    promoted_by: request.by,
    reason: request.reason,
    classification: diff.classification,
    forced: !diff.promoteSafe,
    tables,
  };
  await ctx.manifest.update((current) => withMainRecord(current, record));
  ctx.log.info({ cutLsn: request.cutLsn, classification: diff.classification, by: request.by }, 'promoted to main');
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
