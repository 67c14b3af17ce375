import type { Logger } from '../core/log/index.js';
import { createPreflightActivities, type PreflightActivityDeps } from './preflight.js';

export type ActivityDeps = PreflightActivityDeps & { readonly log: Logger };

/**
 * Activities are built by a factory that closes over their clients and settings, so a worker wires them once and
 * workflows see them only as the type `Activities`.
 */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createPreflightActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
