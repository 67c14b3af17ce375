import type { PgCdcConfig } from '../core/config/index.js';
import { runPreflight, type PreflightReport } from '../source/preflight.js';
import { asActivity } from './failures.js';

export interface PreflightActivityDeps {
  readonly config: PgCdcConfig;
  /** The source URL after resolution (the configured one, or the embedded demo cluster's). */
  readonly sourceUrl: string;
}

export function createPreflightActivities(deps: PreflightActivityDeps) {
  return {
    /** Readiness of the source for logical replication; a "not ready" report is an answer, not a failure. */
    async preflight(): Promise<PreflightReport> {
      return asActivity(() =>
        runPreflight(
          { ...deps.config.source.postgres, url: deps.sourceUrl },
          deps.config.tables,
          deps.config.replication,
        ),
      );
    },
  };
}
