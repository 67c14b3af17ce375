import { PgCdcError } from '../core/errors/index.js';
import type { Lsn, LsnText } from '../core/lsn/index.js';
import { planOfShape, type TableShape } from '../core/types/evolution.js';
import type { ColumnPlan, TablePlan } from '../core/types/index.js';
import type { SourceTable } from '../core/types/source.js';
import { pgArrayToJson } from '../source/replication/arrays.js';
import type { SnapshotGate } from './snapshot-gate.js';
import type { TableSpool } from './spool.js';

/**
 * How rows of one replicated table reach its spool: which relation columns feed which CSV fields, and which of
 * them identify a row. The columns are the table's shape at the current point of the stream: a Relation message
 * that changes them reshapes the route (`reshapeRoute`, stream/evolve.ts) before the rows that follow it.
 */
export interface TableRoute extends RouteColumns {
  readonly table: string;
  readonly spool: TableSpool;
  /** Transactions at or below this commit LSN are in the lake already. */
  skipThrough: bigint;
  /** A table that joined while streaming: which transactions its own base snapshot holds (snapshot-gate.ts). */
  readonly gate?: SnapshotGate;
  /** `pg-cdc reconcile` brought the lake past the columns of transactions the slot still sends (reconcile.ts). */
  reconciled?: ReconciledColumns | undefined;
  /**
   * Set while the rows received are in other columns than the route's (such a transaction from before a
   * reconcile): where each of the route's columns is in the received tuple. Undefined: the same place.
   */
  tupleMap?: TupleMap | undefined;
  /**
   * A change of the table the stream cannot follow was met in the transaction committing at (or read after) this
   * position: the table takes no more rows, and the slot is not acknowledged past it (StreamRunner.halt).
   */
  haltedAt?: Lsn;
}

/** Where each column of a route's plan comes from in a tuple of other columns. */
export interface TupleMap {
  /** Per plan column: the tuple's column index, or -1 when the tuple lacks it. */
  readonly from: readonly number[];
  /** Per plan column the tuple lacks: the value rows written before it held (a default, as text), or null. */
  readonly missing: readonly (string | null)[];
}

/**
 * What `pg-cdc reconcile` applied (saved in the spool as reconciled.json): the lake went from `from` to the
 * route's columns, reading the catalog at `atLsn`. Transactions committed before that position are still sent by
 * the slot in the columns they were written in, which the lake has gone past: their rows are mapped onto the
 * route's columns (`map` for rows in `from`'s) instead of evolving the lake back.
 */
export interface ReconciledColumns {
  readonly atLsn: LsnText;
  readonly schemaId: number;
  readonly from: TableShape;
  readonly map: TupleMap;
}

/** The parts of a route that follow its shape; changed together, by reshapeRoute only. */
export interface RouteColumns {
  shape: TableShape;
  source: SourceTable;
  plan: TablePlan;
  /** Field indexes (into plan.columns) of the identity columns. */
  identity: readonly number[];
  identityKind: 'primary-key' | 'full-row';
}

export function routeColumns(shape: TableShape): RouteColumns {
  return { shape, source: shape.source, plan: planOfShape(shape), ...identityOf(shape.source) };
}

/** The route's rows carry `columns` (routeColumns of the new shape, planned before anything changed) from now on. */
export function reshapeRoute(route: TableRoute, columns: RouteColumns): void {
  Object.assign(route, columns);
}

export class SchemaChangedError extends PgCdcError {
  constructor(table: string, what: string) {
    super('SCHEMA_CHANGED', `the columns of ${table} changed in a way the stream cannot follow: ${what}`, {
      context: { table },
      hint: 'see docs/schema-evolution.md; `pg-cdc reconcile --table` applies a change made while `pg-cdc start` was down',
    });
  }
}

export function identityOf(source: SourceTable): { identity: number[]; identityKind: 'primary-key' | 'full-row' } {
  if (source.primaryKey.length > 0) {
    const index = new Map(source.columns.map((c, i) => [c.name, i]));
    return { identity: source.primaryKey.map((name) => index.get(name)!), identityKind: 'primary-key' };
  }
  return { identity: source.columns.map((_, i) => i), identityKind: 'full-row' };
}

/**
 * The CSV text of one value: arrays become the JSON array the snapshot path produces. The array's type (after
 * domains) decides how elements are cast to text there (bool `t` → `true`, inet gains its netmask, box uses `;`).
 */
export function wireValue(column: ColumnPlan, arrayTypeOid: number, value: string | null): string | null {
  if (value === null || column.wireForm === 'text') return value;
  return pgArrayToJson(value, arrayTypeOid);
}
