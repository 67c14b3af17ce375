/**
 * A source table's columns as the catalog describes them, with the type facts the mapping needs already
 * resolved (domains unwrapped, array elements described). Read by source/columns.ts, planned by plan.ts.
 */

/** A type after unwrapping domains: what its values look like on the wire. */
export interface SourceType {
  readonly oid: number;
  /** The base type's schema and name (pg_type.typname, e.g. `int4`, `_text`, `citext`). */
  readonly schema: string;
  readonly name: string;
  /** The typmod that applies to the base type: the column's own, or the innermost domain's that set one. */
  readonly typmod: number;
  /** pg_type.typcategory (`N` numeric, `S` string, `A` array, `E` enum, `U` user-defined ...). */
  readonly category: string;
  readonly isEnum: boolean;
  /** The outermost domain, schema-qualified, when the declared type is one; kept for documentation only. */
  readonly domain?: string;
  /** Set for array types: the element type, itself resolved. */
  readonly element?: SourceType;
}

export interface SourceColumn {
  readonly name: string;
  readonly attnum: number;
  readonly notNull: boolean;
  /** The declared type (pg_attribute.atttypid), possibly a domain. */
  readonly typeOid: number;
  readonly typmod: number;
  /** format_type(atttypid, atttypmod): the type as a person wrote it, e.g. `numeric(12,2)` or `my_domain`. */
  readonly formatType: string;
  /** pg_attribute.attndims: the declared number of array dimensions (not enforced by PostgreSQL; 0 if unknown). */
  readonly dimensions: number;
  readonly type: SourceType;
}

export interface SourceTable {
  readonly schema: string;
  readonly name: string;
  /** In attnum order, dropped columns left out. */
  readonly columns: readonly SourceColumn[];
  /** Primary key column names in key order; empty when the table has none. */
  readonly primaryKey: readonly string[];
}
