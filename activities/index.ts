import type { Logger } from '../core/log/index.js';
import { createGovernanceActivities } from './governance.js';
import { openLakeAccess, type LakeAccess } from './lake.js';
import { createPreflightActivities, type PreflightActivityDeps } from './preflight.js';
import { createSnapshotActivities } from './snapshot.js';
import { createStreamActivities } from './stream.js';

export type ActivityDeps = PreflightActivityDeps & { readonly log: Logger };

/**
 * Activities are built by a factory that closes over their clients and settings, so a worker wires them once and
 * workflows see them only as the type `Activities`. The lake (storage, catalog, DuckDB) opens on first use.
 */
export function createActivities(deps: ActivityDeps) {
  let lake: Promise<LakeAccess> | undefined;
  const openLake = (): Promise<LakeAccess> => (lake ??= openLakeAccess(deps.config, deps.log));
  return {
    ...createPreflightActivities(deps),
    ...createGovernanceActivities(deps),
    ...createSnapshotActivities({ ...deps, lake: openLake }),
    ...createStreamActivities({ ...deps, lake: openLake }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
