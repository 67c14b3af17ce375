import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { AclSyncReport } from '../activities/governance.js';
import { NON_RETRYABLE_CODES } from '../core/errors/catalog.js';

export interface AclSyncInput {
  /** Who the audit names; default pg-cdc itself. */
  readonly actor?: string;
  readonly reason?: string;
}

// A few reads and writes per table in DynamoDB or SQLite and Lake Formation; it heartbeats between tables.
const { syncAcl } = proxyActivities<Activities>({
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '1 minute',
  retry: {
    initialInterval: '5s',
    maximumInterval: '2 minutes',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [...NON_RETRYABLE_CODES],
  },
});

/**
 * aclSyncWorkflow `acl-sync:<db>` (a schedule's runs: `acl-sync:<db>-<time>`): heals drift, as `pg-cdc acl sync`
 * does: the registry put back to pg-cdc.yml's `tables.tags`, and, with `governance.catalog: glue`, Lake Formation's
 * LF-tags and role grants put back to the registry. Every healed item is in the registry's audit log (`sync`,
 * `lf-sync`); the report counts them.
 */
export async function aclSyncWorkflow(input: AclSyncInput = {}): Promise<AclSyncReport> {
  return syncAcl({
    actor: input.actor ?? 'pg-cdc',
    reason: input.reason ?? 'aclSyncWorkflow: scheduled drift repair',
  });
}
