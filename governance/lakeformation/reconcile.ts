/**
 * `reconcileLakeFormation` compares Lake Formation with the registry (LF-tags on the Glue database, tables and
 * columns; LF-tag policy grants of the roles' IAM principals) and, asked to heal, puts Lake Formation back to the
 * registry, auditing what it changed. `acl diff`, `acl sync` and aclSyncWorkflow call it.
 */
import type { PgCdcConfig } from '../../core/config/index.js';
import { aclDrift, aclDriftHealed } from '../../core/metrics/index.js';
import type { Change } from '../audit.js';
import type { Registry } from '../registry.js';
import { databaseResource, formatResource } from '../resource.js';
import { openLakeFormation, type LakeFormationClients } from './client.js';
import { diffLakeFormation, syncLakeFormation, type LakeFormationDrift, type LakeFormationReport } from './drift.js';
import {
  diffRoleGrants,
  grantTagCatalog,
  planRoleGrants,
  policyKey,
  syncRoleGrants,
  type GrantDrift,
} from './policies.js';

export interface LakeFormationReconciliation {
  /** What differs now (after healing, when asked to heal). */
  readonly tags: LakeFormationReport;
  readonly grants: readonly GrantDrift[];
  /** What was healed (empty for a diff). */
  readonly healedTags: readonly LakeFormationDrift[];
  readonly healedGrants: readonly GrantDrift[];
}

export const driftCount = (result: LakeFormationReconciliation): number =>
  result.tags.drift.length + result.grants.length;
export const healedCount = (result: LakeFormationReconciliation): number =>
  result.healedTags.length + result.healedGrants.length;

/**
 * Compare Lake Formation with the registry for the source database `db`; with `heal`, put it back first. Role
 * grants are planned before anything is changed: a grant Lake Formation cannot express fails the whole call.
 */
export async function reconcileLakeFormation(
  config: PgCdcConfig,
  registry: Registry,
  db: string,
  options: { heal: boolean; change: Change; clients?: LakeFormationClients },
): Promise<LakeFormationReconciliation> {
  const plans = planRoleGrants(config);
  const opened = options.clients ? undefined : openLakeFormation(config);
  const clients = options.clients ?? opened!;
  try {
    let healedTags: LakeFormationDrift[] = [];
    let healedGrants: GrantDrift[] = [];
    const grantTags = grantTagCatalog(plans);
    if (options.heal) {
      healedTags = await syncLakeFormation(clients, registry, db, options.change, grantTags);
      healedGrants = await syncRoleGrants(clients, plans);
      for (const item of healedGrants) {
        await registry.recordAudit(options.change, {
          action: 'lf-sync',
          resource: formatResource(databaseResource(db)),
          principal: item.role,
          before: { revoked: item.extra.map(policyKey) },
          after: { granted: item.missing.map(policyKey) },
        });
      }
    }
    const tags = await diffLakeFormation(clients, registry, db, grantTags);
    const grants = await diffRoleGrants(clients, plans);
    const result = { tags, grants, healedTags, healedGrants };
    aclDriftHealed.inc({ target: 'lakeformation' }, healedCount(result));
    aclDrift.set({ target: 'lakeformation' }, driftCount(result));
    return result;
  } finally {
    opened?.close();
  }
}
