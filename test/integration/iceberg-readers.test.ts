/**
 * Tables written by lake/ must read back exactly in readers we did not write: PyIceberg (the reference Python
 * implementation), DuckDB's iceberg extension (`iceberg_scan`) and icebird (a JavaScript reader). DuckDB writes the Parquet files, as in production.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { icebergRead } from 'icebird';
import { pythonOrSkip, scanWithDuckDbIceberg, withFileFetch } from '../support/readers.js';
import { LocalCatalog } from '../../lake/catalog/local.js';
import { SUMMARY_KEY } from '../../lake/contract/index.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import { appendFiles, createTable, findSnapshotByProperty, loadTableMetadata } from '../../lake/iceberg/table.js';
import { FilesystemObjectStore } from '../../lake/storage/filesystem.js';

const schema: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  'identifier-field-ids': [1],
  fields: [
    { id: 1, name: 'id', required: true, type: 'long' },
    { id: 2, name: 'amount', required: false, type: 'decimal(12, 2)' },
    { id: 3, name: 'name', required: false, type: 'string' },
    { id: 4, name: 'active', required: false, type: 'boolean' },
    { id: 5, name: 'born', required: false, type: 'date' },
    { id: 6, name: 'created_at', required: false, type: 'timestamptz' },
    { id: 7, name: 'uid', required: false, type: 'uuid' },
    {
      id: 8,
      name: 'tags',
      required: false,
      type: { type: 'list', 'element-id': 9, element: 'int', 'element-required': false },
    },
    { id: 10, name: 'payload', required: false, type: 'binary' },
  ],
};
const FIELD_IDS =
  '{id: 1, amount: 2, name: 3, active: 4, born: 5, created_at: 6, uid: 7, tags: {__duckdb_field_id: 8, element: 9}, payload: 10}';
const COLUMNS = 'id, amount, name, active, born, created_at, uid, tags, payload';

/** The rows, normalized the way both readers' output is normalized below. */
const expected = [
  {
    id: 1,
    amount: '12.34',
    name: 'Grüße, 世界 🚀 "quoted"',
    active: true,
    born: '1990-05-17',
    created_at: '2024-03-01T12:34:56.123456Z',
    uid: '6f1c2b1e-6d0f-4a55-9c3e-2b8a7f6d1e90',
    tags: [1, 2, null],
    payload: 'deadbeef',
  },
  { id: 2, amount: null, name: null, active: null, born: null, created_at: null, uid: null, tags: null, payload: null },
  {
    id: 3,
    amount: '-0.01',
    name: '',
    active: false,
    born: '2024-02-29',
    created_at: '1970-01-01T00:00:00.000000Z',
    uid: '00000000-0000-0000-0000-000000000000',
    tags: [],
    payload: '',
  },
  {
    id: 4000000000000,
    amount: '9999999999.99',
    name: 'second file',
    active: true,
    born: '1969-12-31',
    created_at: '1999-12-31T23:59:59.999999Z',
    uid: 'ffffffff-ffff-ffff-ffff-ffffffffffff',
    tags: [-7],
    payload: '00',
  },
];
type Row = Record<string, unknown>;

const FILE_A = `
  SELECT * FROM (VALUES
    (1::BIGINT, 12.34::DECIMAL(12,2), 'Grüße, 世界 🚀 "quoted"', true, DATE '1990-05-17',
     TIMESTAMPTZ '2024-03-01 12:34:56.123456+00', '6f1c2b1e-6d0f-4a55-9c3e-2b8a7f6d1e90'::UUID, [1, 2, NULL]::INTEGER[],
     '\\xDE\\xAD\\xBE\\xEF'::BLOB),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    (3, -0.01, '', false, DATE '2024-02-29', TIMESTAMPTZ '1970-01-01 00:00:00+00',
     '00000000-0000-0000-0000-000000000000'::UUID, []::INTEGER[], ''::BLOB)
  ) AS t(${COLUMNS})`;
const FILE_B = `
  SELECT 4000000000000::BIGINT AS id, 9999999999.99::DECIMAL(12,2) AS amount, 'second file' AS name, true AS active,
    DATE '1969-12-31' AS born, TIMESTAMPTZ '1999-12-31 23:59:59.999999+00' AS created_at,
    'ffffffff-ffff-ffff-ffff-ffffffffffff'::UUID AS uid, [-7]::INTEGER[] AS tags, '\\x00'::BLOB AS payload`;

const { python, skip: noPython } = pythonOrSkip();

describe('Iceberg tables written by lake/ read back in independent readers', () => {
  const root = mkdtempSync(join(tmpdir(), 'pg-cdc-iceberg-readers-'));
  const store = new FilesystemObjectStore(root);
  const catalog = new LocalCatalog(store);
  let metadataPath = '';
  let metadataText = '';

  before(async () => {
    await createTable(store, catalog, { identifier: 'public.things', location: 'public/things', schema });
    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    await connection.run(`SET TimeZone = 'UTC'`);
    for (const [i, select, lsn] of [
      [0, FILE_A, '0/16B3748'],
      [1, FILE_B, '0/16B3800'],
    ] as const) {
      const key = `public/things/data/part-${i}.parquet`;
      const path = store.localPath(key);
      mkdirSync(dirname(path), { recursive: true });
      await connection.run(`COPY (${select}) TO '${path}' (FORMAT parquet, COMPRESSION zstd, FIELD_IDS ${FIELD_IDS})`);
      const count = await connection.runAndReadAll(`SELECT count(*)::INTEGER FROM '${path}'`);
      await appendFiles(store, catalog, 'public.things', {
        dataFiles: [
          { path: store.uri(key), recordCount: count.getRows()[0]![0] as number, fileSizeInBytes: statSync(path).size },
        ],
        summary: { [SUMMARY_KEY.lsn]: lsn },
      });
    }
    connection.closeSync();
    db.closeSync();
    const table = await loadTableMetadata(store, catalog, 'public.things');
    assert.equal(findSnapshotByProperty(table.metadata, SUMMARY_KEY.lsn, '0/16B3748')?.['sequence-number'], 1);
    metadataPath = store.localPath(table.metadataKey);
    metadataText = readFileSync(metadataPath, 'utf8');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('PyIceberg reads the rows, both snapshots, the summary property and the schema', { skip: noPython }, () => {
    const script = `
import json, sys, base64, datetime, decimal, uuid
from pyiceberg.table import StaticTable
t = StaticTable.from_metadata(sys.argv[1])
def norm(v):
    if isinstance(v, decimal.Decimal): return str(v)
    if isinstance(v, datetime.datetime): return v.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')
    if isinstance(v, datetime.date): return v.isoformat()
    if isinstance(v, uuid.UUID): return str(v)
    if isinstance(v, bytes): return str(uuid.UUID(bytes=v)) if len(v) == 16 else v.hex()
    raise TypeError(repr(v))
print(json.dumps({
    'rows': t.scan().to_arrow().to_pylist(),
    'snapshots': [{'id': str(s.snapshot_id), 'seq': s.sequence_number, 'summary': s.summary.additional_properties,
                   'operation': s.summary.operation.value} for s in t.metadata.snapshots],
    'current': str(t.current_snapshot().snapshot_id),
    'fields': [[f.field_id, f.name, str(f.field_type), f.required] for f in t.schema().fields],
    'element_id': t.schema().find_field('tags').field_type.element_id,
}, default=norm))
`;
    const out = JSON.parse(execFileSync(python!, ['-c', script, metadataPath], { encoding: 'utf8' })) as {
      rows: Row[];
      snapshots: { id: string; seq: number; summary: Record<string, string>; operation: string }[];
      current: string;
      fields: [number, string, string, boolean][];
      element_id: number;
    };
    assert.deepEqual(byId(out.rows), expected);
    assert.equal(out.snapshots.length, 2);
    assert.deepEqual(
      out.snapshots.map((s) => [s.seq, s.operation, s.summary[SUMMARY_KEY.lsn], s.summary['total-records']]),
      [
        [1, 'append', '0/16B3748', '3'],
        [2, 'append', '0/16B3800', '4'],
      ],
    );
    // 63-bit ids survive: the current snapshot id PyIceberg sees is the one we wrote, digit for digit.
    assert.match(metadataText, new RegExp(`"current-snapshot-id": ${out.current}\\b`));
    assert.deepEqual(out.fields, [
      [1, 'id', 'long', true],
      [2, 'amount', 'decimal(12, 2)', false],
      [3, 'name', 'string', false],
      [4, 'active', 'boolean', false],
      [5, 'born', 'date', false],
      [6, 'created_at', 'timestamptz', false],
      [7, 'uid', 'uuid', false],
      [8, 'tags', 'list<int>', false],
      [10, 'payload', 'binary', false],
    ]);
    assert.equal(out.element_id, 9);
  });

  it('DuckDB iceberg_scan reads the same rows', { skip: noPython }, () => {
    const { rows } = scanWithDuckDbIceberg(python!, metadataPath);
    // The shared normalizer writes UTC timestamps without the zone letter.
    const withZone = rows.map((row) => ({
      ...row,
      created_at: row.created_at === null ? null : `${row.created_at as string}Z`,
    }));
    assert.deepEqual(byId(withZone), expected);
  });

  it('icebird reads the same rows', async () => {
    const rows = await withFileFetch(() =>
      icebergRead({ tableUrl: store.uri('public/things'), metadata: JSON.parse(metadataText) as never }),
    );
    assert.deepEqual(byId(rows.map(normalizeIcebird)), expected.map(asIcebirdSees));
  });
});

const byId = (rows: Row[]): Row[] => [...rows].sort((a, b) => Number(a.id) - Number(b.id));

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const uuidText = (bytes: Uint8Array): string =>
  hex(bytes).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');

/** icebird returns JS values: bigint longs, Dates (millisecond precision), byte arrays, decimals as numbers. */
function normalizeIcebird(row: Row): Row {
  const out: Row = {};
  for (const [key, value] of Object.entries(row)) {
    if (value === undefined || value === null) out[key] = null;
    else if (key === 'amount') out[key] = (value as number).toFixed(2);
    else if (key === 'uid') out[key] = typeof value === 'string' ? value : uuidText(value as Uint8Array);
    else if (key === 'payload')
      out[key] = typeof value === 'string' ? hex(Buffer.from(value)) : hex(value as Uint8Array);
    else if (key === 'born') out[key] = (value as Date).toISOString().slice(0, 10);
    else if (value instanceof Date) out[key] = value.toISOString();
    else if (typeof value === 'bigint') out[key] = Number(value);
    else out[key] = value;
  }
  return out;
}

/**
 * What icebird can return for a correct file: JS Dates hold milliseconds, and it hands binary columns to hyparquet
 * as text (it does not pass the Iceberg type), which decodes them as UTF-8, replacing invalid bytes with U+FFFD.
 * PyIceberg above reads the exact microseconds and bytes from the same files.
 */
function asIcebirdSees(row: Row): Row {
  const ts = row.created_at;
  const payload = row.payload;
  return {
    ...row,
    created_at: typeof ts === 'string' ? `${ts.slice(0, 23)}Z` : ts,
    payload: typeof payload === 'string' ? hex(Buffer.from(Buffer.from(payload, 'hex').toString('utf8'))) : payload,
  };
}
