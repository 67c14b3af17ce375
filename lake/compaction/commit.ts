import { PgCdcError } from '../../core/errors/index.js';
import { headSnapshot } from '../iceberg/refs.js';
import { rewriteFiles } from '../iceberg/rewrite.js';
import { loadTableMetadata, type AppendResult, type DataFile } from '../iceberg/table.js';
import { snapshotFiles, type LiveFile, type SnapshotFiles } from '../reader.js';
import { joinKey } from '../storage/keys.js';
import { copyToLake, quoteString } from '../state/duck.js';
import { SUMMARY_KEY, SUMMARY_KEYS_KEPT_BY_COMPACTION, type SnapshotKind } from '../contract/index.js';
import { compactionSnapshotId } from '../state/naming.js';
import { POSITION_DELETE_FIELD_IDS } from '../state/state-sql.js';
import { numberedRowsSql, ROW_NUMBER } from './order.js';
import type { RewriteContext, TableRewrite } from './rewrite.js';

/**
 * The short half of a compaction, run by the table's single writer between two epochs: swap the rewritten files in
 * for the base's as one `replace` snapshot. Epochs that committed while the rewrite ran are kept: their data files
 * stay, and their position deletes are carried over: a delete of a base row is moved to where order.ts put that row
 * in the new files, a delete of a newer row is kept as it is. Nothing is read but the deletes and the base's row
 * numbering, so the commit costs a fraction of the rewrite, and an epoch waits for at most this.
 */
export class CompactionStaleError extends PgCdcError {
  constructor(table: string, base: string, reason: string) {
    super('COMPACTION_STALE', `the rewrite of ${table} from snapshot ${base} no longer applies: ${reason}`, {
      context: { table, snapshot: base },
      hint: 'nothing was committed; the next compaction rewrites the table from its current snapshot',
    });
  }
}

export interface CompactionCommit {
  readonly result: AppendResult;
  /** Deletes of epochs committed during the rewrite that were moved onto the new files. */
  readonly carriedDeletes: number;
  /** Epochs committed during the rewrite, whose files stayed. */
  readonly epochsKept: number;
}

export async function commitRewrite(ctx: RewriteContext, rewrite: TableRewrite): Promise<CompactionCommit> {
  const { table } = rewrite;
  const baseId = BigInt(rewrite.baseSnapshotId);
  const snapshotId = compactionSnapshotId(table, baseId);
  const loaded = await loadTableMetadata(ctx.store, ctx.catalog, table);
  // A retried commit (its activity died after the swap) finds its snapshot instead of committing twice.
  const done = loaded.metadata.snapshots.find((s) => s['snapshot-id'] === snapshotId);
  if (done) return { result: { committed: false, snapshot: done, table: loaded }, carriedDeletes: 0, epochsKept: 0 };
  const current = headSnapshot(loaded.metadata);
  if (!current) throw new CompactionStaleError(table, rewrite.baseSnapshotId, 'the table has no snapshot');
  // One read of the table's metadata serves the base, the current files and the swap (a table of a thousand
  // snapshots has a metadata file of a few hundred kilobytes).
  const base = await snapshotFiles(ctx.store, table, loaded.metadata, { snapshotId: baseId });
  const now = await snapshotFiles(ctx.store, table, loaded.metadata);
  const nowPaths = new Set([...now.dataFiles, ...now.deleteFiles].map((f) => f.path));
  const gone = rewrite.replaced.find((path) => !nowPaths.has(path));
  if (gone !== undefined) {
    throw new CompactionStaleError(table, rewrite.baseSnapshotId, `${gone} was removed since (a truncate?)`);
  }
  const basePaths = new Set(rewrite.replaced);
  const newDeletes = now.deleteFiles.filter((f) => !basePaths.has(f.path));
  const newData = now.dataFiles.filter((f) => !basePaths.has(f.path));

  const carried =
    newDeletes.length === 0 ? undefined : await carryDeletes(ctx, rewrite, base, newDeletes, loaded.location);
  const summary: Record<string, string> = {
    [SUMMARY_KEY.kind]: 'compaction' satisfies SnapshotKind,
    [SUMMARY_KEY.compactedFrom]: rewrite.baseSnapshotId,
  };
  for (const key of SUMMARY_KEYS_KEPT_BY_COMPACTION) {
    const value = current.summary[key];
    if (value !== undefined) summary[key] = value;
  }
  const result = await rewriteFiles(ctx.store, ctx.catalog, table, {
    remove: new Set([...rewrite.replaced, ...newDeletes.map((f) => f.path)]),
    add: [...rewrite.files, ...(carried ? [carried.file] : [])],
    expectedSnapshotId: current['snapshot-id'],
    summary,
    snapshotId,
    table: loaded,
  });
  return {
    result,
    carriedDeletes: carried?.rows ?? 0,
    epochsKept: new Set([...newData, ...newDeletes].map((f) => f.path)).size > 0 ? countEpochs(loaded, baseId) : 0,
  };
}

/** Snapshots committed after the base. */
function countEpochs(loaded: Awaited<ReturnType<typeof loadTableMetadata>>, baseId: bigint): number {
  const snapshots = loaded.metadata.snapshots;
  const at = snapshots.findIndex((s) => s['snapshot-id'] === baseId);
  return at < 0 ? 0 : snapshots.length - at - 1;
}

/**
 * One position-delete file with every delete of `deletes`: those naming a base file moved to the new file and
 * position of that row, the others (rows of epochs after the base) as they were.
 */
async function carryDeletes(
  ctx: RewriteContext,
  rewrite: TableRewrite,
  base: SnapshotFiles,
  deletes: readonly LiveFile[],
  tableLocation: string,
): Promise<{ file: DataFile; rows: number }> {
  const numbered = numberedRowsSql(base, [], rewrite.order, rewrite.where);
  const locals = deletes.map((file) => {
    if (file.localPath === undefined)
      throw new CompactionStaleError(rewrite.table, rewrite.baseSnapshotId, `${file.path} is not local`);
    return quoteString(file.localPath);
  });
  const newFiles = `[${rewrite.files.map((f) => quoteString(f.path)).join(', ')}]`;
  const baseLocations = `[${base.dataFiles.map((f) => quoteString(f.path)).join(', ')}]`;
  const moved =
    numbered === undefined
      ? 'SELECT NULL::VARCHAR AS file_path, NULL::BIGINT AS pos WHERE false'
      : `SELECT ${newFiles}[(n.${ROW_NUMBER} // ${rewrite.rowsPerFile}) + 1] AS file_path, ` +
        `n.${ROW_NUMBER} % ${rewrite.rowsPerFile} AS pos FROM x JOIN (${numbered}) AS n ` +
        'ON n.location = x.file_path AND n.pos = x.pos';
  const query =
    `WITH x AS (SELECT file_path, pos FROM read_parquet([${locals.join(', ')}])) ` +
    `SELECT file_path, pos FROM (${moved} UNION ALL ` +
    `SELECT file_path, pos FROM x WHERE NOT list_contains(${baseLocations}, file_path)) ORDER BY file_path, pos`;
  const key = joinKey(tableLocation, 'data', `compacted-${rewrite.baseSnapshotId}-carried-deletes.parquet`);
  const connection = await ctx.duckdb.connect();
  try {
    const { localPath: _local, ...file } = await copyToLake(
      connection,
      ctx.store,
      key,
      query,
      POSITION_DELETE_FIELD_IDS,
      1,
    );
    return { file, rows: file.recordCount };
  } finally {
    connection.closeSync();
  }
}
