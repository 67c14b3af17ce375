/**
 * Query-time enforcement from Lake Formation (`governance.catalog: glue`): the query engine's AccessPolicy decides
 * a role with `principal_arn` from what Lake Formation holds (the LF-tags of the Glue database, tables and columns;
 * the principal's LF-tag policy grants), so what pg-cdc serves is what Athena would. The snapshot of Lake
 * Formation is read at most every 5 minutes, and again as soon as the registry's policy_version moves (a change
 * made through pg-cdc reaches Lake Formation through `acl sync` or aclSyncWorkflow, which move it too). A role
 * without `principal_arn`, and break-glass grants (with their expiry), are decided from the registry.
 */
import type { PgCdcConfig } from '../../core/config/index.js';
import { decideAccess, type ClassificationIndex } from '../decide.js';
import type { Registry } from '../registry.js';
import { requireRole, compileRoles, type RoleSet } from '../roles.js';
import type { Tags } from '../tags.js';
import type { AccessDecision, AccessPolicy, LakeTableShape } from '../types.js';
import type { LakeFormationClients } from './client.js';
import { policiesAsExpression, readLakeFormationSnapshot, type LakeFormationSnapshot } from './access.js';

/** How long a snapshot of Lake Formation is used while policy_version does not move. */
export const LAKE_FORMATION_CACHE_MS = 5 * 60_000;

export class LakeFormationAccessPolicy implements AccessPolicy {
  private readonly roles: RoleSet;
  private cached: { version: number; at: number; snapshot: Promise<LakeFormationSnapshot> } | undefined;

  constructor(
    private readonly config: Pick<PgCdcConfig, 'governance'>,
    private readonly registry: Registry,
    private readonly clients: LakeFormationClients & { close?(): void },
    /** Decides roles without principal_arn, and owns the registry's lifetime. */
    private readonly local: AccessPolicy,
    private readonly database: string | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.roles = compileRoles(config.governance);
  }

  /** Role names, sorted. */
  principals(): string[] {
    return [...this.roles.keys()];
  }

  policyVersion(): Promise<number> {
    return this.local.policyVersion();
  }

  async decide(principal: string, lake: readonly LakeTableShape[]): Promise<AccessDecision> {
    const role = requireRole(this.roles, principal);
    const arn = this.config.governance.roles[principal]?.principal_arn;
    if (arn === undefined) return this.local.decide(principal, lake);
    const version = await this.local.policyVersion();
    const snapshot = await this.snapshot(version);
    const expression = policiesAsExpression(snapshot.policies.get(arn) ?? []);
    const database = this.database ?? (await this.registry.database()) ?? '';
    const grants = await this.registry.grants.active(principal);
    // No LF grant: nothing by tags (an expression that admits nothing), break-glass grants still count.
    const grant = expression ?? { op: 'in' as const, key: '\u0000', values: [] };
    return decideAccess({
      principal,
      role: { ...role, grant },
      policyVersion: version,
      index: indexOf(snapshot, database, lake),
      lake,
      grants,
    });
  }

  async close(): Promise<void> {
    this.clients.close?.();
    await this.local.close();
  }

  private snapshot(version: number): Promise<LakeFormationSnapshot> {
    const fresh =
      this.cached && this.cached.version === version && this.now() - this.cached.at < LAKE_FORMATION_CACHE_MS;
    if (!fresh) {
      const snapshot = readLakeFormationSnapshot(this.clients);
      this.cached = { version, at: this.now(), snapshot };
      snapshot.catch(() => {
        if (this.cached?.snapshot === snapshot) this.cached = undefined;
      });
    }
    return this.cached!.snapshot;
  }
}

/** Lake Formation's tags as the decision's index, its Glue column names matched to the lake's case-insensitively. */
function indexOf(
  snapshot: LakeFormationSnapshot,
  database: string,
  lake: readonly LakeTableShape[],
): ClassificationIndex {
  const tableTags = new Map<string, Tags>();
  const columnTags = new Map<string, Map<string, Tags>>();
  const shapes = new Map(lake.map((shape) => [shape.identifier, shape]));
  for (const [identifier, table] of snapshot.tables) {
    tableTags.set(identifier, table.tags);
    const columns = new Map<string, Tags>();
    for (const column of shapes.get(identifier)?.columns ?? table.columns) {
      const tags = table.columnTags.get(column.toLowerCase());
      if (tags) columns.set(column, tags);
    }
    columnTags.set(identifier, columns);
  }
  return { database, databaseTags: snapshot.databaseTags, tableTags, columnTags };
}
