/**
 * What the query engine asks of governance. Governance decides (registry, tags, roles, break-glass grants); the
 * engine enforces by exposing only what a decision lists. Everything not listed is invisible, never "denied".
 */

/** A lake table as the engine sees it: its identifier (`schema.table`) and column names. */
export interface LakeTableShape {
  readonly identifier: string;
  readonly columns: readonly string[];
}

export interface TableGrant {
  /** Lake identifier, `schema.table`. */
  readonly table: string;
  /** The visible columns, in the table's order; never empty (a table with no visible column is not granted). */
  readonly columns: readonly string[];
  /** Why it is visible: tag grants of the principal's role, or a break-glass grant (with its expiry). */
  readonly via: 'tags' | 'break-glass';
  readonly expiresAt?: string;
}

export interface AccessDecision {
  readonly principal: string;
  /** The registry's policy_version this decision was made at. */
  readonly policyVersion: number;
  /** Keyed by lake identifier; only what the principal may read. */
  readonly tables: ReadonlyMap<string, TableGrant>;
  /**
   * The principal may read `staging` and snapshots past `main` (its role's `refs` lists `staging`). Absent or false:
   * only `main` and the snapshots before it, what was promoted.
   */
  readonly readsStaging?: boolean;
}

export interface AccessPolicy {
  /** Cheap: the engine calls it per request and re-decides when it moved. */
  policyVersion(): Promise<number>;
  /** Throws PgCdcError code PRINCIPAL_UNKNOWN (hint: the roles in pg-cdc.yml) for a principal with no role. */
  decide(principal: string, lake: readonly LakeTableShape[]): Promise<AccessDecision>;
  close(): Promise<void>;
}
