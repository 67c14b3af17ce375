import type { QueryEngine } from '../../engine/types.js';
import type { AccessPolicy, LakeTableShape } from '../../governance/types.js';
import { isPgCdcError } from '../../core/errors/index.js';

/**
 * Which tables and columns a principal may see, for everything the front doors show that is not a query result
 * (manifest, freshness, snapshots, diffs, catalog, audit). Governance decides over the table shapes it is given,
 * so a diff can ask about a past shape of the lake as well as the current one.
 *
 * A changelog `schema.table__changes` is the same data as its table: visible exactly when the table is, its
 * columns cut by the lake contract's rule (`visibleChangelogColumns`) from the table's visible ones.
 */
export interface VisibleSet {
  /** The policy version the decision was made at; null when the server runs without governance. */
  readonly policyVersion: number | null;
  /** Visible columns, in table order, of each visible table among the shapes asked about. */
  readonly tables: ReadonlyMap<string, readonly string[]>;
}

export interface Visibility {
  decide(principal: string, shapes: readonly LakeTableShape[]): Promise<VisibleSet>;
  policyVersion(): Promise<number | null>;
}

/** Governance's decision, as is. */
export function policyVisibility(policy: AccessPolicy): Visibility {
  return {
    async decide(principal, shapes) {
      const decision = await policy.decide(principal, shapes);
      const tables = new Map<string, readonly string[]>();
      for (const [table, grant] of decision.tables) tables.set(table, grant.columns);
      return { policyVersion: decision.policyVersion, tables };
    },
    policyVersion: () => policy.policyVersion(),
  };
}

/**
 * What the query engine shows the principal now, intersected with the shapes asked about: for servers built on
 * an engine alone. Past shapes are judged by today's visible columns.
 */
export function engineVisibility(engine: QueryEngine): Visibility {
  return {
    async decide(principal, shapes) {
      const listed = new Set(
        (await engine.listTables(principal)).filter((t) => t.kind === 'state').map((t) => t.table),
      );
      const tables = new Map<string, readonly string[]>();
      await Promise.all(
        shapes
          .filter((shape) => listed.has(shape.identifier))
          .map(async (shape) => {
            try {
              const visible = new Set(
                (await engine.describeTable(principal, shape.identifier)).columnsDetail.map((c) => c.name),
              );
              const columns = shape.columns.filter((c) => visible.has(c));
              if (columns.length > 0) tables.set(shape.identifier, columns);
            } catch (error) {
              if (!isPgCdcError(error) || error.code !== 'TABLE_NOT_FOUND') throw error;
            }
          }),
      );
      return { policyVersion: null, tables };
    },
    policyVersion: () => Promise.resolve(null),
  };
}
