import type { Logger } from '../../core/log/index.js';
import { TableNotFoundError } from '../errors.js';
import { expireTable, type ExpiryResult } from '../iceberg/expire.js';
import { ManifestReads } from '../iceberg/manifests.js';
import { sweepOrphans } from '../iceberg/orphans.js';
import { loadTableMetadata, type LoadedTable } from '../iceberg/table.js';
import type { ManifestStore } from '../manifest.js';
import { currentDataFiles } from '../reader.js';
import { recordMaintenanceInManifest } from '../state/manifest-entry.js';
import { quoteIdentifier, quoteString } from '../state/duck.js';
import { CHANGELOG_COLUMN, CHANGELOG_ORDER, changelogIdentifier } from '../contract/index.js';
import { commitRewrite, CompactionStaleError } from './commit.js';
import { assessTable, type CompactionThresholds, type TableAssessment } from './policy.js';
import { rewriteTable, type RewriteContext, type TableRewrite } from './rewrite.js';
import { pruneLakeVersions, type VersionsPruned } from './versions.js';

/**
 * A table's maintenance, as the compaction workflow runs it: assess the state table and its changelog, rewrite
 * what is due, then (in the table's single writer) commit the rewrites and expire old snapshots of both.
 */
export type TablePart = 'state' | 'changes';

export interface TablePlan {
  readonly table: string;
  readonly state: TableAssessment;
  /** undefined: the table has no changelog yet (no epoch has committed). */
  readonly changes: TableAssessment | undefined;
}

const identifierOf = (table: string, part: TablePart): string =>
  part === 'state' ? table : changelogIdentifier(table);

async function assessPart(
  ctx: RewriteContext,
  identifier: string,
  thresholds: CompactionThresholds,
): Promise<TableAssessment | undefined> {
  try {
    return assessTable(await currentDataFiles(ctx.store, ctx.catalog, identifier), thresholds);
  } catch (error) {
    if (error instanceof TableNotFoundError) return undefined;
    throw error;
  }
}

export async function planTableMaintenance(
  ctx: RewriteContext,
  table: string,
  thresholds: CompactionThresholds,
): Promise<TablePlan> {
  const state = await assessPart(ctx, table, thresholds);
  if (!state) throw new TableNotFoundError(table);
  return { table, state, changes: await assessPart(ctx, changelogIdentifier(table), thresholds) };
}

export interface PartRewriteOptions {
  readonly targetFileSizeBytes: number;
  /** The changelog keeps the changes committed at or after this instant (ISO 8601); unset keeps all. */
  readonly changesSince?: string;
  readonly onFile?: (written: number, planned: number) => void;
}

/** The changelog in commit order, the state table by primary key (rewrite.ts's default). */
export async function rewritePart(
  ctx: RewriteContext,
  table: string,
  part: TablePart,
  options: PartRewriteOptions,
): Promise<TableRewrite | undefined> {
  const { targetFileSizeBytes, onFile } = options;
  if (part === 'state') return rewriteTable(ctx, table, { targetFileSizeBytes, ...(onFile ? { onFile } : {}) });
  return rewriteTable(ctx, identifierOf(table, part), {
    targetFileSizeBytes,
    order: CHANGELOG_ORDER,
    ...(options.changesSince === undefined
      ? {}
      : {
          where: `${quoteIdentifier(CHANGELOG_COLUMN.commitTime)} >= CAST(${quoteString(options.changesSince)} AS TIMESTAMPTZ)`,
        }),
    ...(onFile ? { onFile } : {}),
  });
}

export interface MaintenanceRequest {
  /** Who asks (the compaction workflow's id and run): the actor's Update id, so a resend commits nothing twice. */
  readonly requestId: string;
  readonly table: string;
  readonly rewrites: readonly TableRewrite[];
  readonly retainSnapshots: number;
  /** Unreferenced files older than this are deleted (lake/iceberg/orphans.ts). */
  readonly orphanGraceMs: number;
  /**
   * Versions of the manifest and the local catalog kept by count (compaction/versions.ts). Absent in requests of
   * an older pg-cdc (a schedule `start` has not rewritten yet): those prune no versions.
   */
  readonly retainVersions?: number;
}

export interface PartCommit {
  readonly identifier: string;
  readonly snapshotId: string;
  readonly committed: boolean;
  readonly rows: number;
  readonly filesAdded: number;
  readonly filesRemoved: number;
  readonly carriedDeletes: number;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
}

export interface MaintenanceResult {
  readonly table: string;
  readonly commits: readonly PartCommit[];
  /** Rewrites that no longer applied (a truncate landed meanwhile): dropped, retried by the next run. */
  readonly stale: readonly string[];
  readonly expired: Readonly<Record<string, ExpiryResult>>;
  /** Unreferenced files deleted per table (leftovers of crashed commits and abandoned rewrites). */
  readonly orphansDeleted: Readonly<Record<string, number>>;
  /** Old versions of the manifest and the catalog pruned; absent when the request set no `retainVersions`. */
  readonly versions?: VersionsPruned;
}

export async function commitMaintenance(
  ctx: RewriteContext & { readonly log: Logger; readonly manifest: ManifestStore },
  request: MaintenanceRequest,
): Promise<MaintenanceResult> {
  const commits: PartCommit[] = [];
  const stale: string[] = [];
  for (const rewrite of request.rewrites) {
    try {
      const commit = await commitRewrite(ctx, rewrite);
      commits.push({
        identifier: rewrite.table,
        snapshotId: String(commit.result.snapshot['snapshot-id']),
        committed: commit.result.committed,
        rows: rewrite.rows,
        filesAdded: rewrite.files.length,
        filesRemoved: rewrite.replaced.length,
        carriedDeletes: commit.carriedDeletes,
        bytesBefore: rewrite.bytesBefore,
        bytesAfter: rewrite.bytesAfter,
      });
    } catch (error) {
      if (!(error instanceof CompactionStaleError)) throw error;
      ctx.log.warn({ err: error, table: rewrite.table }, 'compaction rewrite no longer applies; dropped');
      stale.push(rewrite.table);
    }
  }
  const expired: Record<string, ExpiryResult> = {};
  const orphansDeleted: Record<string, number> = {};
  const tables: Partial<Record<TablePart, LoadedTable>> = {};
  for (const part of ['state', 'changes'] as const) {
    const identifier = identifierOf(request.table, part);
    let table: LoadedTable;
    try {
      table = await loadTableMetadata(ctx.store, ctx.catalog, identifier);
    } catch (error) {
      if (error instanceof TableNotFoundError) continue;
      throw error;
    }
    // Expiry and the sweep read the kept manifests once between them.
    const reads = new ManifestReads(ctx.store);
    const expiry = await expireTable(ctx.catalog, table, { retainLast: request.retainSnapshots }, reads);
    expired[identifier] = expiry.result;
    const sweep = await sweepOrphans(expiry.table, { graceMs: request.orphanGraceMs }, reads);
    orphansDeleted[identifier] = sweep.deleted.length;
    tables[part] = expiry.table;
  }
  // Readers that go by pg-cdc's manifest must find the new metadata files: the expired ones may be gone.
  if (!tables.state) throw new TableNotFoundError(request.table);
  await recordMaintenanceInManifest(ctx.manifest, ctx.log, {
    state: tables.state,
    ...(tables.changes ? { changes: tables.changes } : {}),
  });
  // After expiry: which manifest versions still read whole depends on the snapshots it kept.
  const versions =
    request.retainVersions === undefined
      ? undefined
      : await pruneLakeVersions(ctx, { retainVersions: request.retainVersions, minAgeMs: request.orphanGraceMs });
  return { table: request.table, commits, stale, expired, orphansDeleted, ...(versions ? { versions } : {}) };
}
