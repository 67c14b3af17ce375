/**
 * A small real lake (Iceberg tables with Parquet written by DuckDB, a catalog and manifest versions) and a small
 * in-memory QueryEngine and AccessPolicy, for testing the front doors without PostgreSQL or Temporal.
 *
 * Principals: `analyst` sees every column of public.people and public.orders; `restricted` sees public.people
 * without `email`, and not public.orders; anything else is PRINCIPAL_UNKNOWN. Manifest v1 has people (id, name,
 * email) at epoch 0; v2 adds orders and moves people to epoch 1; v3 gives people a new column `phone` and widens
 * `id`... only where the test asks for it (see `evolve`).
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { sha256Hex } from '../../api/http/auth.js';
import { typeText } from '../../lake/contract/index.js';
import { parseConfig } from '../../core/config/index.js';
import { PgCdcError } from '../../core/errors/index.js';
import type {
  ChangesRequest,
  QueryEngine,
  QueryResult,
  ReadAt,
  SqlQuery,
  StructuredQuery,
  TableDescription,
  TableSummary,
} from '../../engine/types.js';
import type { AccessDecision, AccessPolicy, LakeTableShape, TableGrant } from '../../governance/types.js';
import {
  changelogIdentifier,
  changelogSourceColumns,
  isChangelogIdentifier,
  stateIdentifierOf,
  SUMMARY_KEY,
  visibleChangelogColumns,
} from '../../lake/contract/index.js';
import type { IcebergField, IcebergSchema } from '../../core/types/iceberg.js';
import { appendFiles, createTable } from '../../lake/iceberg/table.js';
import type { ManifestStore, ManifestTable, PgCdcManifest } from '../../lake/manifest.js';
import { openLake } from '../../lake/open.js';
import type { ObjectStore } from '../../lake/storage/index.js';
import { openDuckDB } from '../../lake/parquet/writer.js';

const field = (id: number, name: string, type: IcebergField['type'], required = false): IcebergField => ({
  id,
  name,
  type,
  required,
});

export const PEOPLE_FIELDS = [field(1, 'id', 'int', true), field(2, 'name', 'string'), field(3, 'email', 'string')];
export const ORDERS_FIELDS = [field(1, 'id', 'long', true), field(2, 'amount', 'decimal(12, 2)')];
const CHANGE_FIELDS = [field(100, '_op', 'string'), field(101, '_commit_lsn', 'string'), field(102, '_seq', 'long')];

export interface Fixture {
  readonly root: string;
  readonly store: ObjectStore;
  readonly manifests: ManifestStore;
  /** Creates an Iceberg table (under `location`) with one Parquet file of `rows` rows; returns its manifest ref. */
  table(
    identifier: string,
    location: string,
    fields: readonly IcebergField[],
    rows: number,
    summary?: Record<string, string>,
  ): Promise<ManifestTable['state']>;
  commit(tables: Record<string, ManifestTable>, extra?: Record<string, unknown>): Promise<number>;
  cleanup(): void;
}

export async function buildFixture(): Promise<Fixture> {
  const root = mkdtempSync(join(tmpdir(), 'pg-cdc-api-'));
  // The lake the service under test opens from configFor(root): the same one, caches included.
  const { store, catalog, manifest: manifests } = openLake(configFor(root));
  const duck = await openDuckDB({ threads: 1 });
  let manifest: PgCdcManifest = {
    format_version: 1,
    updated_at: new Date().toISOString(),
    source: {
      database: 'shop',
      host: 'db.internal',
      slot: 'pg_cdc_slot',
      publication: 'pg_cdc_pub',
      consistent_point_lsn: '0/1000',
    },
    tables: {},
  };
  let version: number | undefined;
  return {
    root,
    store,
    manifests,
    async table(identifier, location, fields, rows, summary = {}) {
      const schema: IcebergSchema = {
        type: 'struct',
        'schema-id': 0,
        'identifier-field-ids': [1],
        fields: [...fields],
      };
      await createTable(store, catalog, { identifier, location, schema });
      const key = `${location}/data/part-0.parquet`;
      const path = store.localPath(key)!;
      mkdirSync(dirname(path), { recursive: true });
      const select = fields.map((f) => (f.type === 'string' ? `'v' || range AS "${f.name}"` : `range AS "${f.name}"`));
      const ids = fields.map((f) => `"${f.name}": ${f.id}`).join(', ');
      await duck.connection.run(
        `COPY (SELECT ${select.join(', ')} FROM range(${rows})) TO '${path}' (FORMAT parquet, FIELD_IDS {${ids}})`,
      );
      const result = await appendFiles(store, catalog, identifier, {
        dataFiles: [{ path: store.uri(key), recordCount: rows, fileSizeInBytes: statSync(path).size }],
        summary: { [SUMMARY_KEY.lsn]: '0/1000', [SUMMARY_KEY.epoch]: '0', ...summary },
      });
      return {
        metadata_location: result.table.metadataLocation,
        snapshot_id: String(result.snapshot['snapshot-id']),
        schema_id: 0,
      };
    },
    async commit(tables, extra = {}) {
      manifest = { ...manifest, updated_at: new Date().toISOString(), tables };
      // Written through the store directly when extra keys are wanted: ManifestStore validates (and strips) them.
      if (Object.keys(extra).length === 0) {
        version = await manifests.commit(version, manifest);
      } else {
        const next = (version ?? 0) + 1;
        await store.putIfAbsent(
          `_pgcdc/manifest/v${String(next).padStart(10, '0')}.json`,
          JSON.stringify({ ...manifest, ...extra }),
        );
        version = next;
      }
      return version;
    },
    cleanup() {
      duck.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export function changesFields(fields: readonly IcebergField[]): IcebergField[] {
  return [...CHANGE_FIELDS, ...fields];
}

/** Grants by principal: table → visible columns (changelogs follow their table). */
const GRANTS: Record<string, Record<string, string[] | 'all'>> = {
  analyst: { 'public.people': 'all', 'public.orders': 'all' },
  restricted: { 'public.people': ['id', 'name', 'phone'] },
};

export class FixturePolicy implements AccessPolicy {
  version = 7;
  policyVersion(): Promise<number> {
    return Promise.resolve(this.version);
  }
  decide(principal: string, lake: readonly LakeTableShape[]): Promise<AccessDecision> {
    const grants = GRANTS[principal];
    if (!grants) {
      return Promise.reject(
        new PgCdcError('PRINCIPAL_UNKNOWN', `principal ${principal} has no role`, { hint: 'the roles in pg-cdc.yml' }),
      );
    }
    const tables = new Map<string, TableGrant>();
    for (const shape of lake) {
      const grant = grants[stateIdentifierOf(shape.identifier)];
      if (!grant) continue;
      const sees = new Set(grant === 'all' ? changelogSourceColumns(shape.columns) : grant);
      const columns = isChangelogIdentifier(shape.identifier)
        ? visibleChangelogColumns(shape.columns, sees)
        : shape.columns.filter((c) => grant === 'all' || grant.includes(c));
      if (columns.length) tables.set(shape.identifier, { table: shape.identifier, columns, via: 'tags' });
    }
    return Promise.resolve({ principal, policyVersion: this.version, tables });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * An engine over fixed rows. It records every call (to check what the front doors pass on) and fails on purpose
 * for `SELECT boom` with a raw error whose text must never reach a client.
 */
export class FixtureEngine implements QueryEngine {
  readonly calls: { method: string; principal: string; args: unknown[] }[] = [];
  constructor(private readonly policy: FixturePolicy) {}

  private async visible(principal: string): Promise<Map<string, readonly string[]>> {
    const shapes = [
      { identifier: 'public.people', columns: PEOPLE_FIELDS.map((f) => f.name) },
      { identifier: 'public.orders', columns: ORDERS_FIELDS.map((f) => f.name) },
    ];
    const decision = await this.policy.decide(principal, shapes);
    return new Map([...decision.tables].map(([t, g]) => [t, g.columns]));
  }

  async listTables(principal: string): Promise<TableSummary[]> {
    this.calls.push({ method: 'listTables', principal, args: [] });
    return [...(await this.visible(principal))].map(([table, columns]) => ({
      table,
      kind: 'state' as const,
      columns: columns.length,
      rowCount: 3,
      snapshotId: '1',
      committedLsn: '0/1000',
      epoch: 0,
    }));
  }

  async describeTable(principal: string, table: string): Promise<TableDescription> {
    this.calls.push({ method: 'describeTable', principal, args: [table] });
    const columns = (await this.visible(principal)).get(table);
    if (!columns) throw new PgCdcError('TABLE_NOT_FOUND', `table ${JSON.stringify(table)} is not in the lake`);
    const fields = (table === 'public.people' ? PEOPLE_FIELDS : ORDERS_FIELDS).filter((f) => columns.includes(f.name));
    return {
      table,
      kind: 'state',
      columns: fields.length,
      rowCount: 3,
      snapshotId: '1',
      committedLsn: '0/1000',
      epoch: 0,
      schemaId: 0,
      primaryKey: ['id'],
      columnsDetail: fields.map((f) => ({
        name: f.name,
        type: f.type === 'string' ? 'VARCHAR' : 'BIGINT',
        icebergType: typeText(f.type),
        fieldId: f.id,
        required: f.required,
        primaryKey: f.id === 1,
      })),
    };
  }

  async query(principal: string, query: StructuredQuery | SqlQuery, at?: ReadAt): Promise<QueryResult> {
    this.calls.push({ method: 'query', principal, args: [query, at] });
    if (query.kind === 'sql' && query.sql.includes('boom')) {
      throw new Error('IO Error: Cannot open file "/srv/secret/lake/part-0.parquet": Permission denied');
    }
    if (query.kind === 'structured') await this.describeTable(principal, query.table);
    const rows = [
      [1, 'Ada'],
      [2, 'Grace'],
      [3, 'Edsger'],
    ].slice(0, query.limit ?? 3);
    return {
      columns: [
        { name: 'id', type: 'INTEGER' },
        { name: 'name', type: 'VARCHAR' },
      ],
      rows,
      rowCount: rows.length,
      truncated: (query.limit ?? 3) < 3,
      snapshots: { 'public.people': '1' },
      elapsedMs: 1.5,
    };
  }

  async changes(principal: string, request: ChangesRequest): Promise<QueryResult> {
    this.calls.push({ method: 'changes', principal, args: [request] });
    await this.describeTable(principal, stateIdentifierOf(request.table));
    return {
      columns: [
        { name: '_op', type: 'VARCHAR' },
        { name: '_commit_lsn', type: 'BIGINT' },
        { name: 'id', type: 'INTEGER' },
      ],
      // 8192 is 0/2000: committed before the 0/3000 a test's manifest names, so a feed sends these rows.
      rows: [
        ['insert', 8192, 4],
        ['delete', 8192, 1],
      ],
      rowCount: 2,
      truncated: false,
      snapshots: { [changelogIdentifier(request.table)]: '2' },
      elapsedMs: 1,
    };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export const TOKENS = { analyst: 'analyst-token-0123456789', restricted: 'restricted-token-0123456789' };

export function configFor(root: string, extra = ''): ReturnType<typeof parseConfig> {
  return parseConfig(
    [
      'source:',
      '  postgres:',
      '    url: postgresql://reader@localhost:5432/shop',
      'storage:',
      `  path: ${root}`,
      'serve:',
      '  http:',
      '    body_limit_bytes: 2048',
      '    rate_limit_per_minute: 1000',
      '    tokens:',
      ...Object.entries(TOKENS).flatMap(([principal, token]) => [
        `      - principal: ${principal}`,
        `        sha256: ${sha256Hex(token)}`,
      ]),
      '  query:',
      '    row_limit: 50',
      extra,
    ].join('\n'),
  );
}

/** Lake history: v1 people; v2 people moved an epoch and orders appeared; v3 people gained phone and id widened;
 * v4 (stamped policy_version 3) dropped email; v5 the same tables under the live policy (version 7). */
export async function buildHistory(fixture: Fixture): Promise<void> {
  const people = await fixture.table('public.people', 'public/people', PEOPLE_FIELDS, 3);
  const peopleChanges = await fixture.table(
    'public.people__changes',
    'public/people__changes',
    changesFields(PEOPLE_FIELDS),
    2,
  );
  const orders = await fixture.table('public.orders', 'public/orders', ORDERS_FIELDS, 5);
  const ordersChanges = await fixture.table(
    'public.orders__changes',
    'public/orders__changes',
    changesFields(ORDERS_FIELDS),
    1,
  );
  const widened = PEOPLE_FIELDS.map((f) => (f.name === 'id' ? { ...f, type: 'long' as const } : f));
  const v3 = await fixture.table(
    'scratch.people_v3',
    'scratch/people_v3',
    [...widened, { id: 4, name: 'phone', type: 'string', required: false }],
    4,
  );
  const v4 = await fixture.table(
    'scratch.people_v4',
    'scratch/people_v4',
    [widened[0]!, widened[1]!, { id: 4, name: 'phone', type: 'string', required: false }],
    4,
  );
  const entry = (state: typeof people, columns: string[], epoch: number, rows: number) => ({
    state,
    changes: peopleChanges,
    columns,
    primary_key: ['id'],
    row_count: rows,
    epoch,
    committed_lsn: `0/${(0x1000 + epoch).toString(16).toUpperCase()}`,
    schema_version: epoch,
  });
  const ordersEntry = {
    state: orders,
    changes: ordersChanges,
    columns: ['id', 'amount'],
    primary_key: ['id'],
    row_count: 5,
    epoch: 0,
    committed_lsn: '0/1000',
    schema_version: 0,
  };
  await fixture.commit({ 'public.people': entry(people, ['id', 'name', 'email'], 0, 3) });
  await fixture.commit({ 'public.people': entry(people, ['id', 'name', 'email'], 1, 3), 'public.orders': ordersEntry });
  await fixture.commit({
    'public.people': entry(v3, ['id', 'name', 'email', 'phone'], 2, 4),
    'public.orders': ordersEntry,
  });
  await fixture.commit(
    { 'public.people': entry(v4, ['id', 'name', 'phone'], 3, 4), 'public.orders': ordersEntry },
    { policy_version: 3 },
  );
  await fixture.commit({ 'public.people': entry(v4, ['id', 'name', 'phone'], 3, 4), 'public.orders': ordersEntry });
}
