/**
 * A table's columns and primary key from the catalog, with every type resolved to what the mapping needs:
 * domains unwrapped to their base type (and typmod), enums flagged, array element types described.
 */
import type pg from 'pg';
import { PgCdcError } from '../core/errors/index.js';
import type { SourceColumn, SourceTable, SourceType } from '../core/types/source.js';

export type { SourceColumn, SourceTable, SourceType } from '../core/types/source.js';

/** The table named for a snapshot or a schema read does not exist (or is not visible to the connecting role). */
export class SourceTableNotFoundError extends PgCdcError {
  constructor(schema: string, table: string) {
    super('SOURCE_TABLE_NOT_FOUND', `table ${schema}.${table} was not found in the source database`, {
      context: { schema, table },
      hint: 'check the name (case matters for quoted identifiers) and that the connecting role can see the schema',
    });
  }
}

const TABLE_SQL = `
SELECT c.oid
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind::text = ANY ($3::text[])`;

const COLUMNS_SQL = `
SELECT a.attname AS name, a.attnum::int4 AS attnum, a.attnotnull AS not_null, a.atttypid AS type_oid,
       a.atttypmod AS typmod, format_type(a.atttypid, a.atttypmod) AS format_type, a.attndims::int4 AS dimensions
  FROM pg_attribute a
 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum`;

// A type is an array when its element type names it as its array type: that excludes int2vector, oidvector, name
// and point, which have a typelem but a text form of their own.
const TYPES_SQL = `
SELECT t.oid, n.nspname AS schema, t.typname AS name, t.typtype::text AS typtype, t.typcategory::text AS category,
       t.typbasetype AS base_oid, t.typtypmod AS base_typmod, t.typelem AS elem_oid,
       (t.typelem <> 0 AND e.typarray = t.oid) AS is_array
  FROM pg_type t
  JOIN pg_namespace n ON n.oid = t.typnamespace
  LEFT JOIN pg_type e ON e.oid = t.typelem
 WHERE t.oid = ANY ($1::oid[])`;

const PRIMARY_KEY_SQL = `
SELECT a.attname AS name
  FROM pg_index i
 CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
 WHERE i.indrelid = $1 AND i.indisprimary
 ORDER BY k.ord`;

interface ColumnRow {
  name: string;
  attnum: number;
  not_null: boolean;
  type_oid: number | string;
  typmod: number;
  format_type: string;
  dimensions: number;
}

interface TypeRow {
  oid: number | string;
  schema: string;
  name: string;
  typtype: string;
  category: string;
  base_oid: number | string;
  base_typmod: number;
  elem_oid: number | string;
  is_array: boolean | null;
}

/** Loads pg_type rows for the given oids and, round by round, for the domain bases and elements they point at. */
async function loadTypes(client: pg.ClientBase, oids: Iterable<number>): Promise<Map<number, TypeRow>> {
  const types = new Map<number, TypeRow>();
  let wanted = [...new Set(oids)];
  while (wanted.length > 0) {
    const { rows } = await client.query<TypeRow>(TYPES_SQL, [wanted]);
    for (const row of rows) types.set(Number(row.oid), row);
    const next = new Set<number>();
    for (const row of rows) {
      const refs = [row.typtype === 'd' ? Number(row.base_oid) : 0, row.is_array ? Number(row.elem_oid) : 0];
      for (const ref of refs) if (ref !== 0 && !types.has(ref)) next.add(ref);
    }
    wanted = [...next];
  }
  return types;
}

function resolveType(types: Map<number, TypeRow>, oid: number, typmod: number, domain?: string): SourceType {
  const row = types.get(oid);
  if (!row) throw new PgCdcError('SOURCE_TYPE_UNKNOWN', `type oid ${oid} is not in pg_type`, { context: { oid } });
  if (row.typtype === 'd') {
    // Only one level of a domain chain can carry a typmod (domains take none themselves); keep the first seen.
    const effective = typmod !== -1 ? typmod : row.base_typmod;
    return resolveType(types, Number(row.base_oid), effective, domain ?? `${row.schema}.${row.name}`);
  }
  const element = row.is_array ? resolveType(types, Number(row.elem_oid), typmod) : undefined;
  return {
    oid,
    schema: row.schema,
    name: row.name,
    typmod,
    category: row.category,
    isEnum: row.typtype === 'e',
    ...(domain ? { domain } : {}),
    ...(element ? { element } : {}),
  };
}

/** The columns (attnum order) and primary key of one table, view or foreign table. */
export async function readTableColumns(client: pg.ClientBase, schema: string, table: string): Promise<SourceTable> {
  const found = await client.query<{ oid: number | string }>(TABLE_SQL, [schema, table, ['r', 'p', 'v', 'm', 'f']]);
  const relation = found.rows[0];
  if (!relation) throw new SourceTableNotFoundError(schema, table);
  const oid = Number(relation.oid);
  const { rows } = await client.query<ColumnRow>(COLUMNS_SQL, [oid]);
  const types = await loadTypes(
    client,
    rows.map((row) => Number(row.type_oid)),
  );
  const columns = rows.map((row): SourceColumn => ({
    name: row.name,
    attnum: row.attnum,
    notNull: row.not_null,
    typeOid: Number(row.type_oid),
    typmod: row.typmod,
    formatType: row.format_type,
    dimensions: row.dimensions,
    type: resolveType(types, Number(row.type_oid), row.typmod),
  }));
  const key = await client.query<{ name: string }>(PRIMARY_KEY_SQL, [oid]);
  return { schema, name: table, columns, primaryKey: key.rows.map((row) => row.name) };
}

const CURRENT_COLUMNS_SQL = `
SELECT a.attname AS name, a.attnum::int4 AS attnum, a.attnotnull AS not_null, a.atttypid AS type_oid,
       a.atttypmod AS typmod, a.attndims::int4 AS dimensions,
       CASE WHEN a.atthasmissing THEN a.attmissingval::text END AS missing
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum`;

const FORMAT_TYPES_SQL = `
SELECT format_type(t.oid, t.typmod) AS format_type
  FROM unnest($1::oid[], $2::int4[]) WITH ORDINALITY AS t(oid, typmod, ord)
 ORDER BY t.ord`;

/** A column as a pgoutput Relation message lists it. */
export interface RelationColumnDescription {
  readonly name: string;
  readonly typeOid: number;
  readonly typmod: number;
}

export interface DescribedRelation {
  /** The Relation's columns with their types resolved; the primary key is left to the caller (empty here). */
  readonly table: SourceTable;
  /**
   * Attnums by column name when the catalog, read now, shows exactly the Relation's columns; undefined when it
   * has moved on (later ALTERs): then its attnums may belong to other columns than the Relation's.
   */
  readonly attnums: ReadonlyMap<string, number> | undefined;
  /**
   * The value rows that existed before a column was added hold in it (`attmissingval`, PostgreSQL 11+: an ADD
   * COLUMN with a constant default), by column name, as text; a NULL default is left out.
   */
  readonly defaults: ReadonlyMap<string, string>;
}

/** The one element of a one-element array literal (`{5}`, `{"a b"}`), as text; undefined for `{NULL}`. */
export function singleArrayElement(literal: string): string | undefined {
  const inner = literal.slice(1, -1);
  if (inner === 'NULL') return undefined;
  if (!inner.startsWith('"')) return inner;
  return inner.slice(1, -1).replace(/\\(.)/g, '$1');
}

/**
 * Describes the columns a Relation message announced. The message says name, type and typmod; the catalog adds
 * what it alone knows (NOT NULL, declared array dimensions, attnum) for the columns it still has under that name,
 * and resolves the types (domains, arrays, enums).
 */
export async function describeRelation(
  client: pg.ClientBase,
  schema: string,
  table: string,
  columns: readonly RelationColumnDescription[],
): Promise<DescribedRelation> {
  const { rows } = await client.query<Omit<ColumnRow, 'format_type'> & { missing: string | null }>(
    CURRENT_COLUMNS_SQL,
    [schema, table],
  );
  const catalog = new Map(rows.map((row) => [row.name, row]));
  const types = await loadTypes(
    client,
    columns.map((c) => c.typeOid),
  );
  const formats = await client.query<{ format_type: string }>(FORMAT_TYPES_SQL, [
    columns.map((c) => c.typeOid),
    columns.map((c) => c.typmod),
  ]);
  const described = columns.map((column, index): SourceColumn => {
    const row = catalog.get(column.name);
    const sameColumn = row !== undefined && Number(row.type_oid) === column.typeOid;
    return {
      name: column.name,
      attnum: sameColumn ? row.attnum : -1,
      notNull: sameColumn ? row.not_null : false,
      typeOid: column.typeOid,
      typmod: column.typmod,
      formatType: formats.rows[index]?.format_type ?? String(column.typeOid),
      dimensions: sameColumn ? row.dimensions : 0,
      type: resolveType(types, column.typeOid, column.typmod),
    };
  });
  const agrees =
    rows.length === columns.length &&
    rows.every((row, i) => row.name === columns[i]!.name && Number(row.type_oid) === columns[i]!.typeOid);
  const defaults = new Map<string, string>();
  for (const column of described) {
    const missing = column.attnum > 0 ? catalog.get(column.name)?.missing : undefined;
    const value = missing == null ? undefined : singleArrayElement(missing);
    if (value !== undefined) defaults.set(column.name, value);
  }
  return {
    table: { schema, name: table, columns: described, primaryKey: [] },
    attnums: agrees ? new Map(rows.map((row) => [row.name, row.attnum])) : undefined,
    defaults,
  };
}
