import { PgCdcError } from '../core/errors/index.js';
import type { ColumnPlan, TablePlan } from '../core/types/index.js';
import type { SourceTable } from '../core/types/source.js';
import { pgArrayToJson } from '../source/replication/arrays.js';
import type { SnapshotGate } from './snapshot-gate.js';
import type { TableSpool } from './spool.js';

/**
 * How rows of one replicated table reach its spool: which relation columns feed which CSV fields, and which of
 * them identify a row. Built from the table as it was planned at snapshot time; a relation that no longer matches
 * that plan is a schema change, which stops the stream with an error naming the table (no silent misplacement).
 */
export interface TableRoute {
  readonly table: string;
  readonly source: SourceTable;
  readonly plan: TablePlan;
  readonly spool: TableSpool;
  /** Field indexes (into plan.columns) of the identity columns. */
  readonly identity: readonly number[];
  readonly identityKind: 'primary-key' | 'full-row';
  /** Transactions at or below this commit LSN are in the lake already. */
  skipThrough: bigint;
  /** A table that joined while streaming: which transactions its own base snapshot holds (snapshot-gate.ts). */
  readonly gate?: SnapshotGate;
}

export class SchemaChangedError extends PgCdcError {
  constructor(table: string, what: string) {
    super('SCHEMA_CHANGED', `the columns of ${table} changed since its snapshot: ${what}`, {
      context: { table },
      hint: 'schema evolution while streaming is not supported yet: stop, then `pg-cdc teardown --purge-storage` and `pg-cdc init` to re-snapshot',
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

export interface RelationColumn {
  readonly name: string;
  readonly typeOid: number;
}

/** Maps relation column positions to plan positions; throws SchemaChangedError when they differ. */
export function checkRelation(route: TableRoute, columns: readonly RelationColumn[]): void {
  const planned = route.source.columns;
  if (columns.length !== planned.length) {
    const names = (list: readonly { name: string }[]): string => list.map((c) => c.name).join(', ');
    throw new SchemaChangedError(route.table, `now (${names(columns)}), was (${names(planned)})`);
  }
  columns.forEach((column, i) => {
    const was = planned[i]!;
    if (column.name !== was.name)
      throw new SchemaChangedError(route.table, `column ${i + 1} is now ${column.name}, was ${was.name}`);
    if (column.typeOid !== was.typeOid) throw new SchemaChangedError(route.table, `column ${column.name} changed type`);
  });
}

/**
 * The CSV text of one value: arrays become the JSON array the snapshot path produces. The array's type (after
 * domains) decides how elements are cast to text there (bool `t` → `true`, inet gains its netmask, box uses `;`).
 */
export function wireValue(column: ColumnPlan, arrayTypeOid: number, value: string | null): string | null {
  if (value === null || column.wireForm === 'text') return value;
  return pgArrayToJson(value, arrayTypeOid);
}
