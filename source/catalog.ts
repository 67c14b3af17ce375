/**
 * The tables of the source database as selection and discovery see them. Every user table is listed, selected or
 * not, so that `pg-cdc discover` can explain each exclusion; plus the server facts preflight judges.
 */
import type pg from 'pg';
import type { ReplicaIdentity, TableInfo, TableKind } from '../core/selection/index.js';

export interface CatalogTable extends TableInfo {
  readonly oid: number;
  readonly owner: string;
  readonly columns: number;
  /** pg_class.reltuples: null until the table has been vacuumed or analyzed. */
  readonly estimatedRows: number | null;
  readonly pages: number;
}

interface CatalogRow {
  oid: number;
  schema: string;
  name: string;
  relkind: string;
  relispartition: boolean;
  relreplident: string;
  relpersistence: string;
  reltuples: number;
  relpages: number;
  owner: string;
  has_pk: boolean;
  columns: number;
  parent_schema: string | null;
  parent_name: string | null;
}

const IDENTITIES: Readonly<Record<string, ReplicaIdentity>> = { d: 'default', f: 'full', n: 'nothing', i: 'index' };

// relkind r = ordinary table, p = partitioned table. Temporary tables belong to one session and are never captured.
const TABLES_SQL = `
SELECT c.oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind, c.relispartition,
       c.relreplident::text AS relreplident, c.relpersistence::text AS relpersistence,
       c.reltuples::float8 AS reltuples, c.relpages::int4 AS relpages, pg_get_userbyid(c.relowner) AS owner,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS has_pk,
       (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)::int4
         AS columns,
       pn.nspname AS parent_schema, pc.relname AS parent_name
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_inherits h ON c.relispartition AND h.inhrelid = c.oid
  LEFT JOIN pg_class pc ON pc.oid = h.inhparent
  LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
 WHERE c.relkind::text = ANY ($1::text[])
   AND c.relpersistence::text <> $2
   AND n.nspname <> ALL ($3::text[])
   AND n.nspname !~ $4
 ORDER BY n.nspname, c.relname`;

function kindOf(row: CatalogRow): TableKind {
  if (row.relispartition) return 'partition';
  return row.relkind === 'p' ? 'partitioned' : 'table';
}

/** Ordinary, partitioned and partition tables outside the system schemas, ordered by schema and name. */
export async function listTables(client: pg.ClientBase): Promise<CatalogTable[]> {
  const { rows } = await client.query<CatalogRow>(TABLES_SQL, [
    ['r', 'p'],
    't',
    ['pg_catalog', 'information_schema'],
    '^pg_(toast|temp_)',
  ]);
  const tables = rows.map((row) => ({
    oid: row.oid,
    schema: row.schema,
    name: row.name,
    kind: kindOf(row),
    hasPrimaryKey: row.has_pk,
    replicaIdentity: IDENTITIES[row.relreplident] ?? 'default',
    persistence: row.relpersistence === 'u' ? ('unlogged' as const) : ('permanent' as const),
    ...(row.parent_schema !== null && row.parent_name !== null
      ? { partitionOf: { schema: row.parent_schema, name: row.parent_name } }
      : {}),
    owner: row.owner,
    columns: row.columns,
    // -1 (PostgreSQL 14+) means never analyzed.
    estimatedRows: row.reltuples < 0 ? null : Math.round(row.reltuples),
    pages: Math.max(row.relpages, 0),
  }));
  return tables.map((table) =>
    table.kind === 'partitioned' ? { ...table, ...partitionTotals(table, tables) } : table,
  );
}

/**
 * A partitioned table stores nothing itself and autovacuum never analyzes it: its size is its partitions' sum.
 */
function partitionTotals(
  root: CatalogTable,
  tables: readonly CatalogTable[],
): Pick<CatalogTable, 'estimatedRows' | 'pages'> {
  let rows: number | null = null;
  let pages = 0;
  // Leaves only: an intermediate partitioned table, once analyzed, already reports its own partitions' total.
  const visit = (parent: CatalogTable): boolean => {
    let hasChildren = false;
    for (const child of tables) {
      if (child.partitionOf?.schema !== parent.schema || child.partitionOf.name !== parent.name) continue;
      hasChildren = true;
      pages += child.pages;
      if (!visit(child) && child.estimatedRows !== null) rows = (rows ?? 0) + child.estimatedRows;
    }
    return hasChildren;
  };
  visit(root);
  return { estimatedRows: rows ?? root.estimatedRows, pages };
}

/** The settings, usage counts and privileges of the connecting role that preflight judges. */
export interface ServerFacts {
  version_num: number;
  version: string;
  wal_level: string;
  max_slots: number;
  used_slots: number;
  max_senders: number;
  used_senders: number;
  user: string;
  database: string;
  superuser: boolean;
  replication: boolean;
  rds_replication: boolean;
  can_create: boolean;
}

export interface PublicationInfo {
  owner: string;
  owned: boolean;
  puballtables: boolean;
  pubinsert: boolean;
  pubupdate: boolean;
  pubdelete: boolean;
  tables: number;
}

export interface TablePrivileges {
  oid: number;
  can_select: boolean;
  owned: boolean;
  published: boolean;
}

const SERVER_SQL = `
SELECT current_setting('server_version_num')::int4 AS version_num, current_setting('server_version') AS version,
       current_setting('wal_level') AS wal_level,
       current_setting('max_replication_slots')::int4 AS max_slots,
       (SELECT count(*) FROM pg_replication_slots)::int4 AS used_slots,
       current_setting('max_wal_senders')::int4 AS max_senders,
       (SELECT count(*) FROM pg_stat_replication)::int4 AS used_senders,
       current_user AS "user", current_database() AS database, r.rolsuper AS superuser, r.rolreplication AS replication,
       CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) THEN pg_has_role($1::name, 'MEMBER') ELSE false END
         AS rds_replication,
       has_database_privilege(current_database(), 'CREATE') AS can_create
  FROM pg_roles r WHERE r.rolname = current_user`;

const PUBLICATION_SQL = `
SELECT pg_get_userbyid(p.pubowner) AS owner, pg_has_role(p.pubowner, 'USAGE') AS owned, p.puballtables,
       p.pubinsert, p.pubupdate, p.pubdelete,
       (SELECT count(*) FROM pg_publication_tables t WHERE t.pubname = p.pubname)::int4 AS tables
  FROM pg_publication p WHERE p.pubname = $1`;

const TABLE_PRIVILEGES_SQL = `
SELECT c.oid, has_table_privilege(c.oid, 'SELECT') AS can_select, pg_has_role(c.relowner, 'USAGE') AS owned,
       EXISTS (SELECT 1 FROM pg_publication_tables t
                WHERE t.pubname = $2 AND t.schemaname = n.nspname AND t.tablename = c.relname) AS published
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY ($1::oid[])`;

export async function readServerFacts(client: pg.ClientBase): Promise<ServerFacts> {
  return (await client.query<ServerFacts>(SERVER_SQL, ['rds_replication'])).rows[0]!;
}

export async function readPublication(
  client: pg.ClientBase,
  publication: string,
): Promise<PublicationInfo | undefined> {
  return (await client.query<PublicationInfo>(PUBLICATION_SQL, [publication])).rows[0];
}

/** Whether the connecting role can read each table, owns it, and whether `publication` already holds it. */
export async function readTablePrivileges(
  client: pg.ClientBase,
  oids: readonly number[],
  publication: string,
): Promise<TablePrivileges[]> {
  return (await client.query<TablePrivileges>(TABLE_PRIVILEGES_SQL, [oids, publication])).rows;
}
