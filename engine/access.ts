/**
 * From a governance decision to what a principal sees: per table, the visible fields. Decisions are cached per
 * principal and re-made when the policy version moves, the lake's shape changes (a new table, a new column) or
 * the cache entry grows old, so a changed ACL takes effect at the next request without a restart.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../core/log/index.js';
import type { AccessDecision, AccessPolicy, LakeTableShape } from '../governance/types.js';
import type { IcebergField } from '../core/types/iceberg.js';
import type { LakeTable } from './lake.js';

/**
 * Changelog columns that describe the change rather than the row: visible with the table. A changelog column that
 * is neither one of these nor a granted column of the state table is invisible, whatever it holds.
 */
export const CHANGE_METADATA_COLUMNS: ReadonlySet<string> = new Set([
  '_op',
  '_commit_lsn',
  '_commit_ts',
  '_commit_time',
  '_xid',
  '_seq',
  '_epoch',
]);
/** Names the unchanged-TOAST columns, hidden ones included: visible only to those who see every column. */
const UNCHANGED_COLUMN = '_unchanged_toast';

export interface VisibleTable {
  readonly table: LakeTable;
  /** The visible fields of the table's current schema, in table order. */
  readonly fields: readonly IcebergField[];
}

/**
 * The tables `decision` lets its principal see, by identifier. A changelog shows what governance grants on it,
 * narrowed to the state table's granted columns and the change metadata above: a column the engine cannot place
 * (`_old_email`, say) stays hidden even when its name looks like metadata.
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
    const ownColumns = new Set(own.columns);
    const granted = new Set(stateGrant.columns);
    const stateColumns = new Set(state.fields.map((f) => f.name));
    const seesAll = state.fields.every((f) => granted.has(f.name));
    const fields = table.fields.filter((field) => {
      if (!ownColumns.has(field.name)) return false;
      if (stateColumns.has(field.name)) return granted.has(field.name);
      if (table.kind === 'state') return false;
      return CHANGE_METADATA_COLUMNS.has(field.name) || (field.name === UNCHANGED_COLUMN && seesAll);
    });
    if (fields.some((f) => stateColumns.has(f.name))) visible.set(table.identifier, { table, fields });
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
