/**
 * The AccessPolicy the query engine calls: local policy evaluation over the registry. Decisions are made from a
 * snapshot of the registry's tags, re-read only when policy_version moved; break-glass grants are read on every
 * decision (they are few) and count only before their expiry.
 */
import type { PgCdcConfig } from '../core/config/index.js';
import { decideAccess, indexClassification, type ClassificationIndex } from './decide.js';
import { Registry, type RegistryOptions } from './registry.js';
import { compileRoles, requireRole, type RoleSet } from './roles.js';
import type { AccessDecision, AccessPolicy, LakeTableShape } from './types.js';
import { openLakeFormation } from './lakeformation/client.js';
import { LakeFormationAccessPolicy } from './lakeformation/policy.js';

export interface AccessPolicyOptions extends RegistryOptions {
  /**
   * The source database the lake tables belong to (`manifest.source.database`); default: the database the
   * registry's resources were registered under.
   */
  readonly database?: string;
  /** An open registry to use (and leave open on close); default: the one `governance.registry` names. */
  readonly registry?: Registry;
}

export class LocalAccessPolicy implements AccessPolicy {
  private readonly roles: RoleSet;
  private cached: { version: number; index: ClassificationIndex | undefined } | undefined;

  constructor(
    config: Pick<PgCdcConfig, 'governance'>,
    private readonly registry: Registry,
    private readonly ownsRegistry: boolean,
    private readonly database: string | undefined,
  ) {
    this.roles = compileRoles(config.governance);
  }

  /** Role names, sorted. */
  principals(): string[] {
    return [...this.roles.keys()];
  }

  policyVersion(): Promise<number> {
    return this.currentVersion();
  }

  async decide(principal: string, lake: readonly LakeTableShape[]): Promise<AccessDecision> {
    const role = requireRole(this.roles, principal);
    const version = await this.currentVersion();
    const index = await this.classification(version);
    const grants = await this.registry.grants.active(principal);
    return decideAccess({ principal, role, policyVersion: version, index, lake, grants });
  }

  async close(): Promise<void> {
    if (this.ownsRegistry) await this.registry.close();
  }

  /** Ends grants past their expiry first, so a lapsed grant moves the version like a revoked one. */
  private async currentVersion(): Promise<number> {
    await this.registry.grants.lapse();
    return this.registry.policyVersion();
  }

  private async classification(version: number): Promise<ClassificationIndex | undefined> {
    if (this.cached?.version !== version) {
      const database = this.database ?? (await this.registry.database());
      const index =
        database === undefined ? undefined : indexClassification(database, await this.registry.ownTags(database));
      this.cached = { version, index };
    }
    return this.cached.index;
  }
}

/** An AccessPolicy that also names its principals (the roles of pg-cdc.yml). */
export interface GovernedAccessPolicy extends AccessPolicy {
  principals(): string[];
}

/**
 * The AccessPolicy for a configuration: decided from the registry, or, with `governance.catalog: glue`, from Lake
 * Formation for roles with `principal_arn` (lakeformation/policy.ts). Throws CONFIG_INVALID when a role's grant
 * does not parse (naming the role, the key and the position).
 */
export function openAccessPolicy(config: PgCdcConfig, options: AccessPolicyOptions = {}): GovernedAccessPolicy {
  compileRoles(config.governance);
  const registry = options.registry ?? Registry.forConfig(config, options);
  try {
    const local = new LocalAccessPolicy(config, registry, options.registry === undefined, options.database);
    if (config.governance.catalog !== 'glue') return local;
    const clients = openLakeFormation(config);
    return new LakeFormationAccessPolicy(config, registry, clients, local, options.database);
  } catch (error) {
    if (options.registry === undefined) void registry.close();
    throw error;
  }
}
