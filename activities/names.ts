import type { Activities } from './index.js';

/**
 * Every activity's name, known without loading the activities themselves (DuckDB, the Iceberg writer, pg): a worker
 * registers them by name first and loads them while its workflow thread starts (workers/pool.ts). The type keeps
 * the list complete: a missing or unknown name does not compile.
 */
export const ACTIVITY_NAMES = Object.keys({
  preflight: true,
  grantBreakGlass: true,
  extendBreakGlass: true,
  endBreakGlass: true,
  syncAcl: true,
  describeSnapshotTables: true,
  preparePublication: true,
  assertSlotAbsent: true,
  holdExportedSnapshot: true,
  releaseExportedSnapshot: true,
  planChunks: true,
  copyChunk: true,
  abandonSnapshotAttempt: true,
  commitSnapshotTable: true,
  commitEpoch: true,
  refreshLocator: true,
  planCompaction: true,
  rewriteForCompaction: true,
  requestMaintenance: true,
  commitMaintenance: true,
  holdMain: true,
  planPromotion: true,
  promoteToMain: true,
} satisfies Record<keyof Activities, true>) as ReadonlyArray<keyof Activities>;
