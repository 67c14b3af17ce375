import type { PgCdcConfig } from '../core/config/index.js';
import type { Logger } from '../core/log/index.js';
import { openLake } from '../lake/open.js';
import { settleLocatorUpdates } from '../lake/state/index.js';
import { createCompactionActivities } from './compaction.js';
import { createGovernanceActivities } from './governance.js';
import { openLakeAccess, type LakeAccess } from './lake.js';
import { createPreflightActivities, type PreflightActivityDeps } from './preflight.js';
import { createPromotionActivities } from './promotion.js';
import { createSnapshotActivities } from './snapshot.js';
import { createStreamActivities } from './stream.js';

export type ActivityDeps = PreflightActivityDeps & {
  readonly log: Logger;
  /** The lake the activities use, shared with their host (see lazyLake); by default their own. */
  readonly lake?: () => Promise<LakeAccess>;
};

/**
 * The lake (storage, catalog, DuckDB), shared by every caller. Its storage and catalog are opened now, so that a
 * kind this version cannot open fails the worker at start rather than every activity later; its DuckDB on first use.
 */
export function lazyLake(config: PgCdcConfig, log: Logger): () => Promise<LakeAccess> {
  openLake(config, { log });
  let lake: Promise<LakeAccess> | undefined;
  return () => (lake ??= openLakeAccess(config, log));
}

/**
 * Activities are built by a factory that closes over their clients and settings, so a worker wires them once and
 * workflows see them only as the type `Activities`. The lake opens on first use.
 */
export function createActivities(deps: ActivityDeps) {
  const lake = deps.lake ?? lazyLake(deps.config, deps.log);
  return {
    ...createPreflightActivities(deps),
    ...createGovernanceActivities(deps),
    ...createSnapshotActivities({ ...deps, lake }),
    ...createStreamActivities({ ...deps, lake }),
    ...createCompactionActivities({ ...deps, lake }),
    ...createPromotionActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;

/**
 * Settles once the work that activities leave running after they return has finished: an epoch returns before its
 * locator is moved to the new snapshot (lake/state/locator-updates.ts). A worker awaits this before its process
 * ends, so that the next start finds the locators current.
 */
export const settleActivities = (): Promise<void> => settleLocatorUpdates();
