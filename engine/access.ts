/**
 * From a governance decision to what a principal sees: per table, the visible fields. Decisions are cached per
 * principal and re-made when the policy version moves, the lake's shape changes (a new table, a new column) or
 * the cache entry grows old, so a changed ACL takes effect at the next request without a restart.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../core/log/index.js';
import type { AccessDecision, AccessPolicy, LakeTableShape } from '../governance/types.js';
import { visibleChangelogColumns } from '../lake/contract/index.js';
import type { IcebergField } from '../core/types/iceberg.js';
import type { LakeTable } from './lake.js';

export interface VisibleTable {
  readonly table: LakeTable;
  /** The visible fields of the table's current schema, in table order. */
  readonly fields: readonly IcebergField[];
  /** The principal may read past `main` (staging, snapshots not promoted yet); else only what was promoted. */
  readonly readsStaging: boolean;
}

/**
 * The tables `decision` lets its principal see, by identifier. A changelog shows what governance grants on it,
 * narrowed by the lake contract's rule to the state table's granted columns: a column that is neither metadata
 * nor a granted column's row column (`_old_email`, say) stays hidden whatever governance said of it.
 */
export function visibleTables(
  lake: ReadonlyMap<string, LakeTable>,
  decision: AccessDecision,
): Map<string, VisibleTable> {
  const visible = new Map<string, VisibleTable>();
  for (const table of lake.values()) {
    const own = decision.tables.get(table.identifier);
    const state = lake.get(table.stateIdentifier);
    const stateGrant = decision.tables.get(table.stateIdentifier);
    if (!own || !state || !stateGrant) continue;
    const granted = new Set(stateGrant.columns);
    const names = table.fields.map((f) => f.name);
    const allowed = new Set(
      table.kind === 'state'
        ? names.filter((name) => granted.has(name))
        : visibleChangelogColumns(
            names,
            granted,
            state.fields.map((f) => f.name),
          ),
    );
    const ownColumns = new Set(own.columns);
    const fields = table.fields.filter((f) => ownColumns.has(f.name) && allowed.has(f.name));
    if (fields.length > 0)
      visible.set(table.identifier, { table, fields, readsStaging: decision.readsStaging === true });
  }
  return visible;
}

interface Entry {
  readonly policyVersion: number;
  readonly shapeKey: string;
  readonly at: number;
  readonly decision: Promise<AccessDecision>;
}

const MAX_PRINCIPALS = 1000;

export class DecisionCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly policy: AccessPolicy,
    private readonly ttlMs: number,
    private readonly log: Logger,
  ) {}

  /** The principal's decision over `shapes`; PRINCIPAL_UNKNOWN (from governance) is never cached. */
  async decide(principal: string, shapes: readonly LakeTableShape[]): Promise<AccessDecision> {
    const policyVersion = await this.policy.policyVersion();
    const shapeKey = createHash('sha256').update(JSON.stringify(shapes)).digest('hex');
    const now = Date.now();
    const cached = this.entries.get(principal);
    if (
      cached &&
      cached.policyVersion === policyVersion &&
      cached.shapeKey === shapeKey &&
      now - cached.at < this.ttlMs
    ) {
      return cached.decision;
    }
    if (cached && cached.policyVersion !== policyVersion) {
      this.log.debug({ principal, from: cached.policyVersion, to: policyVersion }, 'policy version moved: re-deciding');
    }
    const decision = this.policy.decide(principal, shapes);
    if (this.entries.size >= MAX_PRINCIPALS && !this.entries.has(principal)) {
      this.entries.delete(this.entries.keys().next().value as string);
    }
    this.entries.set(principal, { policyVersion, shapeKey, at: now, decision });
    decision.catch(() => {
      if (this.entries.get(principal)?.decision === decision) this.entries.delete(principal);
    });
    return decision;
  }
}
