/**
 * A small real lake for the engine tests (Iceberg metadata, Avro manifests, Parquet written by DuckDB with field
 * ids, a position-delete file, a changelog with epochs, a tag ref, an empty table) and an in-test AccessPolicy
 * whose grants and version the tests change.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseConfig } from '../../core/config/index.js';
import { PgCdcError } from '../../core/errors/index.js';
import { silentLogger } from '../../core/log/index.js';
import { createQueryEngine, type QueryEngine, type QueryEngineTuning } from '../../engine/index.js';
import type { AccessDecision, AccessPolicy, LakeTableShape, TableGrant } from '../../governance/types.js';
import {
  isChangelogIdentifier,
  stateIdentifierOf,
  SUMMARY_KEY,
  visibleChangelogColumns,
} from '../../lake/contract/index.js';
import type { Catalog } from '../../lake/catalog/index.js';
import { serializeTableMetadata } from '../../lake/iceberg/metadata.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import { appendFiles, createTable, loadTableMetadata, type DataFile } from '../../lake/iceberg/table.js';
import { openLake } from '../../lake/open.js';
import { openDuckDB } from '../../lake/parquet/writer.js';
import type { ObjectStore } from '../../lake/storage/index.js';

/** principal → table → visible columns ('*' for all). */
export type Grants = Record<string, Record<string, readonly string[] | '*'>>;

export class TestPolicy implements AccessPolicy {
  version = 1;
  decisions = 0;
  constructor(public grants: Grants) {}

  policyVersion(): Promise<number> {
    return Promise.resolve(this.version);
  }

  decide(principal: string, lake: readonly LakeTableShape[]): Promise<AccessDecision> {
    this.decisions++;
    const granted = this.grants[principal];
    if (!granted) {
      return Promise.reject(
        new PgCdcError('PRINCIPAL_UNKNOWN', `no role named ${JSON.stringify(principal)}`, { hint: 'roles: …' }),
      );
    }
    const tables = new Map<string, TableGrant>();
    // Like governance: a changelog follows its state table by the lake contract's rule.
    for (const shape of lake) {
      const grant = granted[stateIdentifierOf(shape.identifier)];
      if (!grant) continue;
      const columns =
        grant === '*'
          ? shape.columns
          : isChangelogIdentifier(shape.identifier)
            ? visibleChangelogColumns(shape.columns, new Set(grant))
            : shape.columns.filter((c) => grant.includes(c));
      if (columns.length) tables.set(shape.identifier, { table: shape.identifier, columns, via: 'tags' });
    }
    return Promise.resolve({ principal, policyVersion: this.version, tables });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

const long = (id: number, name: string, required = false) => ({ id, name, required, type: 'long' as const });
const text = (id: number, name: string) => ({ id, name, required: false, type: 'string' as const });

const PEOPLE: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  'identifier-field-ids': [1],
  fields: [
    long(1, 'id', true),
    text(2, 'name'),
    text(3, 'email'),
    { id: 4, name: 'salary', required: false, type: 'decimal(12, 2)' },
    { id: 5, name: 'born', required: false, type: 'date' },
    { id: 6, name: 'photo', required: false, type: 'binary' },
    { id: 7, name: 'nick:name', required: false, type: 'string' },
  ],
};
const CHANGES: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  fields: [
    text(101, '_op'),
    long(102, '_commit_lsn'),
    { id: 103, name: '_commit_ts', required: false, type: 'timestamptz' },
    long(104, '_xid'),
    { id: 105, name: '_seq', required: false, type: 'int' },
    text(106, '_unchanged_toast'),
    long(1, 'id'),
    text(2, 'name'),
    text(3, 'email'),
    text(107, '_old_email'),
  ],
};
const ORDERS: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  'identifier-field-ids': [1],
  fields: [
    long(1, 'id', true),
    long(2, 'person_id'),
    { id: 3, name: 'amount', required: false, type: 'decimal(10, 2)' },
    text(4, 'status'),
  ],
};
const EMPTY: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  fields: [long(1, 'id'), { id: 2, name: 'at', required: false, type: 'timestamptz' }, text(3, 'secret_note')],
};
const KEYS: IcebergSchema = { type: 'struct', 'schema-id': 0, fields: [long(1, 'id'), text(2, 'api_key')] };

export interface FixtureLake {
  readonly root: string;
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  /** Snapshot ids of public.people: the first append, after the second append, after the deletes. */
  readonly people: { first: string; second: string; afterDeletes: string };
  cleanup(): void;
}

/** people: 5 rows then 3 more, rows id 2 and 7 deleted by position; orders 4 rows; changes in epochs 1 and 2. */
export async function buildLake(): Promise<FixtureLake> {
  const root = mkdtempSync(join(tmpdir(), 'pg-cdc-engine-'));
  // The lake engineFor's engine opens: the same one, caches included.
  const { store, catalog } = openLake({
    storage: { type: 'filesystem', path: join(root, 'lake') },
    catalog: { type: 'local' },
  });
  const duck = await openDuckDB({ threads: 1 });
  const parquet = async (key: string, select: string, fieldIds: string, content?: 1): Promise<DataFile> => {
    const path = store.localPath(key)!;
    mkdirSync(dirname(path), { recursive: true });
    const reader = await duck.connection.runAndReadAll(
      `COPY (${select}) TO '${path}' (FORMAT parquet, FIELD_IDS ${fieldIds})`,
    );
    const recordCount = Number(reader.getRows()[0]?.[0] ?? 0);
    return { path: store.uri(key), recordCount, fileSizeInBytes: statSync(path).size, ...(content ? { content } : {}) };
  };
  try {
    for (const [identifier, schema] of [
      ['public.people', PEOPLE],
      ['public.people__changes', CHANGES],
      ['public.orders', ORDERS],
      ['public.empty', EMPTY],
      ['secret.keys', KEYS],
    ] as const) {
      await createTable(store, catalog, { identifier, location: identifier.replace('.', '/'), schema });
    }
    const peopleIds = '{id: 1, name: 2, email: 3, salary: 4, born: 5, photo: 6, "nick:name": 7}';
    const people = (from: number, to: number) =>
      `SELECT range::BIGINT AS id, 'person ' || range AS name, 'p' || range || '@example.com' AS email, ` +
      `(range * 1000 + 0.5)::DECIMAL(12,2) AS salary, DATE '2000-01-01' + range::INTEGER AS born, ` +
      `'\\x00\\xFF'::BLOB AS photo, 'n' || range AS "nick:name" FROM range(${from}, ${to + 1})`;
    const a = await parquet('public/people/data/a.parquet', people(1, 5), peopleIds);
    const first = await appendFiles(store, catalog, 'public.people', {
      dataFiles: [a],
      summary: { [SUMMARY_KEY.epoch]: '0', [SUMMARY_KEY.lsn]: '0/100' },
    });
    const b = await parquet('public/people/data/b.parquet', people(6, 8), peopleIds);
    const second = await appendFiles(store, catalog, 'public.people', {
      dataFiles: [b],
      summary: { [SUMMARY_KEY.epoch]: '1', [SUMMARY_KEY.lsn]: '0/200' },
    });
    // Positions are read back from the files: DuckDB may write rows in any order.
    const positions = async (file: DataFile, id: number): Promise<number> => {
      const r = await duck.connection.runAndReadAll(
        `SELECT file_row_number FROM read_parquet('${store.localPath(store.keyOf(file.path)!)}', file_row_number = true) WHERE id = ${id}`,
      );
      return Number(r.getRows()[0]![0]);
    };
    const deletes = await parquet(
      'public/people/data/deletes.parquet',
      `SELECT * FROM (VALUES ('${a.path}', ${await positions(a, 2)}::BIGINT), ('${b.path}', ${await positions(b, 7)}::BIGINT)) v(file_path, pos)`,
      '{file_path: 2147483546, pos: 2147483545}',
      1,
    );
    const afterDeletes = await appendFiles(store, catalog, 'public.people', {
      dataFiles: [deletes],
      summary: { [SUMMARY_KEY.epoch]: '2', [SUMMARY_KEY.lsn]: '0/300' },
    });
    await tag(store, catalog, 'public.people', 'before-deletes', second.snapshot['snapshot-id']);

    const changeIds =
      '{_op: 101, _commit_lsn: 102, _commit_ts: 103, _xid: 104, _seq: 105, _unchanged_toast: 106, id: 1, name: 2, email: 3, _old_email: 107}';
    const change = (lsn: number, seq: number, op: string, id: number) =>
      `SELECT '${op}' AS _op, ${lsn}::BIGINT AS _commit_lsn, TIMESTAMPTZ '2024-01-01 00:00:00+00' AS _commit_ts, ` +
      `7::BIGINT AS _xid, ${seq}::INTEGER AS _seq, 'email' AS _unchanged_toast, ${id}::BIGINT AS id, 'person ${id}' AS name, ` +
      `'p${id}@example.com' AS email, 'old${id}@example.com' AS _old_email`;
    const e1 = await parquet(
      'public/people__changes/data/e1.parquet',
      `${change(0x150, 0, 'I', 6)} UNION ALL ${change(0x150, 1, 'I', 7)} UNION ALL ${change(0x180, 0, 'I', 8)}`,
      changeIds,
    );
    await appendFiles(store, catalog, 'public.people__changes', {
      dataFiles: [e1],
      summary: { [SUMMARY_KEY.epoch]: '1', [SUMMARY_KEY.lsn]: '0/200' },
    });
    const e2 = await parquet(
      'public/people__changes/data/e2.parquet',
      `${change(0x250, 0, 'D', 2)} UNION ALL ${change(0x290, 0, 'D', 7)}`,
      changeIds,
    );
    await appendFiles(store, catalog, 'public.people__changes', {
      dataFiles: [e2],
      summary: { [SUMMARY_KEY.epoch]: '2', [SUMMARY_KEY.lsn]: '0/300' },
    });

    const orders = await parquet(
      'public/orders/data/a.parquet',
      `SELECT * FROM (VALUES (1::BIGINT, 1::BIGINT, 10.50::DECIMAL(10,2), 'shipped'), (2, 3, 99.99, 'open'), ` +
        `(3, 3, 5.00, 'shipped'), (4, 8, 1000.00, 'cancelled')) v(id, person_id, amount, status)`,
      '{id: 1, person_id: 2, amount: 3, status: 4}',
    );
    await appendFiles(store, catalog, 'public.orders', { dataFiles: [orders] });
    const keys = await parquet(
      'secret/keys/data/a.parquet',
      `SELECT 1::BIGINT AS id, 'sk-live-123' AS api_key`,
      '{id: 1, api_key: 2}',
    );
    await appendFiles(store, catalog, 'secret.keys', { dataFiles: [keys] });
    return {
      root,
      store,
      catalog,
      people: {
        first: String(first.snapshot['snapshot-id']),
        second: String(second.snapshot['snapshot-id']),
        afterDeletes: String(afterDeletes.snapshot['snapshot-id']),
      },
      cleanup: () => rmSync(root, { recursive: true, force: true }),
    };
  } finally {
    duck.close();
  }
}

/** Adds a tag ref the way another Iceberg writer would: a new metadata file, swapped in through the catalog. */
async function tag(store: ObjectStore, catalog: Catalog, identifier: string, name: string, snapshotId: bigint) {
  const table = await loadTableMetadata(store, catalog, identifier);
  const next = {
    ...table.metadata,
    refs: { ...table.metadata.refs, [name]: { 'snapshot-id': snapshotId, type: 'tag' } },
  };
  const key = table.metadataKey.replace(/\/[^/]*$/, `/99999-tagged-${name}.metadata.json`);
  await store.putIfAbsent(key, serializeTableMetadata(next as typeof table.metadata));
  await catalog.commitTable(identifier, table.metadataKey, key);
}

export const GRANTS: Grants = {
  admin: {
    'public.people': '*',
    'public.orders': '*',
    'public.empty': '*',
    'secret.keys': '*',
  },
  analyst: {
    'public.people': ['id', 'name', 'salary', 'born', 'photo', 'nick:name'],
    'public.orders': '*',
    'public.empty': ['id', 'at'],
  },
  clerk: { 'public.orders': ['id', 'amount', 'status'] },
};

export function engineFor(
  lake: FixtureLake,
  policy: AccessPolicy,
  query: { row_limit?: number; timeout_ms?: number } = {},
  tuning: QueryEngineTuning = {},
): QueryEngine {
  const config = parseConfig(
    JSON.stringify({
      source: { postgres: { url: 'postgresql://reader@localhost:5432/app' } },
      storage: { type: 'filesystem', path: join(lake.root, 'lake') },
      serve: { query },
    }),
  );
  return createQueryEngine({ config, policy, log: silentLogger, threads: 1, memoryLimit: '256MB', ...tuning });
}
