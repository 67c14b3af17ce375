/**
 * Governance side effects. For BreakGlassWorkflow: write, extend and end a grant in the registry; each is idempotent
 * (a retried activity finds its own write and changes nothing), audited, and bumps policy_version. For
 * aclSyncWorkflow: heal drift (registry versus pg-cdc.yml, Lake Formation versus the registry); a retry reads the
 * drift again and heals what is left.
 */
import { Context } from '@temporalio/activity';
import type { PgCdcConfig } from '../core/config/index.js';
import type { Logger } from '../core/log/index.js';
import { compileRoles, requireRole } from '../governance/roles.js';
import { Registry } from '../governance/registry.js';
import { formatResource, parseResource } from '../governance/resource.js';
import type { BreakGlassGrant } from '../governance/grants.js';
import { readLakeInventory, syncIntent } from '../governance/intent.js';
import {
  driftCount,
  grantBreakGlassInLakeFormation,
  healedCount,
  openLakeFormation,
  reconcileLakeFormation,
  revokeBreakGlassInLakeFormation,
} from '../governance/lakeformation/index.js';
import type { Resource } from '../governance/resource.js';
import { asActivity } from './failures.js';

export interface GovernanceActivityDeps {
  readonly config: PgCdcConfig;
  readonly log: Logger;
}

export interface GrantBreakGlassInput {
  readonly grantId: string;
  readonly workflowId: string;
  readonly principal: string;
  readonly resource: string;
  /** The grant runs this long from the moment it is written (when the principal can first read). */
  readonly ttlMs: number;
  readonly actor: string;
  readonly reason: string;
}

export interface ExtendBreakGlassInput {
  readonly grantId: string;
  readonly expiresAt: string;
  readonly actor: string;
  readonly reason: string;
}

export interface EndBreakGlassInput {
  readonly grantId: string;
  /** `revoked`: someone asked. `expired`: the TTL ran out. */
  readonly how: 'revoked' | 'expired';
  readonly actor: string;
  readonly reason: string;
}

export interface AclSyncRequest {
  readonly actor: string;
  readonly reason: string;
}

export interface AclSyncReport {
  /** The lake's source database; undefined when the lake holds nothing yet (nothing to do). */
  readonly database: string | undefined;
  /** Registry resources registered or put back to pg-cdc.yml's tags. */
  readonly registryHealed: number;
  /** Lake Formation resources and role grants put back to the registry (governance.catalog: glue). */
  readonly lakeFormationHealed: number;
  /** What still differs after healing (a resource not in Glue yet is not counted). */
  readonly lakeFormationLeft: number;
  readonly policyVersion: number;
}

export function createGovernanceActivities(deps: GovernanceActivityDeps) {
  let registry: Registry | undefined;
  const open = (): Registry => (registry ??= Registry.forConfig(deps.config));
  const log = deps.log.child({ component: 'governance' });
  /**
   * With governance.catalog: glue, a break-glass grant is also a Lake Formation grant to the role's principal_arn
   * (roles without one are decided by pg-cdc only).
   */
  const inLakeFormation = async (
    principal: string,
    resource: Resource,
    change: typeof grantBreakGlassInLakeFormation,
  ): Promise<void> => {
    const arn = deps.config.governance.roles[principal]?.principal_arn;
    if (deps.config.governance.catalog !== 'glue' || arn === undefined) return;
    const clients = openLakeFormation(deps.config);
    try {
      await change(clients, arn, resource);
    } finally {
      clients.close();
    }
  };
  return {
    /** Heal drift as `pg-cdc acl sync` does, audited; the report counts what was healed. */
    async syncAcl(request: AclSyncRequest): Promise<AclSyncReport> {
      return asActivity(async () => {
        const registry = open();
        const inventory = await readLakeInventory(deps.config);
        if (!inventory) {
          return {
            database: undefined,
            registryHealed: 0,
            lakeFormationHealed: 0,
            lakeFormationLeft: 0,
            policyVersion: await registry.policyVersion(),
          };
        }
        const healed = await syncIntent(registry, deps.config, inventory, request);
        Context.current().heartbeat('registry');
        const lakeFormation =
          deps.config.governance.catalog === 'glue'
            ? await reconcileLakeFormation(deps.config, registry, inventory.database, { heal: true, change: request })
            : undefined;
        const report: AclSyncReport = {
          database: inventory.database,
          registryHealed: healed.length,
          lakeFormationHealed: lakeFormation ? healedCount(lakeFormation) : 0,
          lakeFormationLeft: lakeFormation ? driftCount(lakeFormation) : 0,
          policyVersion: await registry.policyVersion(),
        };
        const healedAny = report.registryHealed + report.lakeFormationHealed > 0;
        if (healedAny) log.info(report, 'acl drift healed');
        return report;
      });
    },

    /** Write the grant, expiring `ttlMs` from now; from this moment AccessPolicy.decide lists it. */
    async grantBreakGlass(input: GrantBreakGlassInput): Promise<BreakGlassGrant> {
      return asActivity(async () => {
        requireRole(compileRoles(deps.config.governance), input.principal);
        const parsed = parseResource(input.resource);
        const resource = formatResource(parsed);
        const { created, grant } = await open().grants.grant(
          {
            id: input.grantId,
            workflowId: input.workflowId,
            principal: input.principal,
            resource,
            ttlMs: input.ttlMs,
          },
          { actor: input.actor, reason: input.reason },
        );
        if (created) log.info({ principal: grant.principal, resource, expiresAt: grant.expiresAt }, 'granted');
        // After the registry: a grant in Lake Formation is always one the registry has, and so gets revoked.
        if (grant.endedAt === null) await inLakeFormation(grant.principal, parsed, grantBreakGlassInLakeFormation);
        return grant;
      });
    },

    /** Move the expiry; false when the grant has already ended (it lapsed while no worker ran). */
    async extendBreakGlass(input: ExtendBreakGlassInput): Promise<{ extended: boolean; expiresAt: string | null }> {
      return asActivity(async () => {
        const { grant } = await open().grants.extend(input.grantId, input.expiresAt, {
          actor: input.actor,
          reason: input.reason,
        });
        const extended = grant !== undefined && grant.endedAt === null && grant.expiresAt === input.expiresAt;
        if (extended) log.info({ grant: input.grantId, expiresAt: input.expiresAt }, 'extended');
        return { extended, expiresAt: grant?.expiresAt ?? null };
      });
    },

    /** End the grant (revoked or expired); ending an ended grant changes nothing. */
    async endBreakGlass(input: EndBreakGlassInput): Promise<{ ended: boolean }> {
      return asActivity(async () => {
        const action = input.how === 'revoked' ? 'revoke' : 'expire';
        const { changed, grant } = await open().grants.end(
          input.grantId,
          { actor: input.actor, reason: input.reason },
          action,
        );
        if (changed) log.info({ grant: input.grantId, principal: grant?.principal, how: input.how }, 'ended');
        // Whether or not this call ended it (a reader may have lapsed it first), Lake Formation's grant goes.
        if (grant)
          await inLakeFormation(grant.principal, parseResource(grant.resource), revokeBreakGlassInLakeFormation);
        return { ended: changed };
      });
    },
  };
}
