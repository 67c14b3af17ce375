/**
 * Every mapped type through the real path: PostgreSQL COPY (CSV) → FIFO or file → DuckDB read_csv → Parquet, then
 * read back and compared with what PostgreSQL says the values are. One test per type.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import pg from 'pg';
import { copyOut } from '../../source/snapshot/copy-out.js';
import { copyStatement } from '../../source/snapshot/copy.js';
import { pythonOrSkip } from '../support/readers.js';
import { planTable, quoteIdentifier, sourceSessionSql, type TablePlan } from '../../core/types/index.js';
import type { IcebergType } from '../../core/types/iceberg.js';
import { openDuckDB, writeParquetFromCsv, writeParquetFromStream, type OpenDuckDB } from '../../lake/parquet/writer.js';
import { readTableColumns } from '../../source/columns.js';
import { freshDatabase, tempDir, uniqueName } from '../support/stack.js';
import { skipLoudlyOrFail } from '../support/skip.js';

type Value = string | number | boolean | null | unknown[] | Record<string, unknown>;

interface Case {
  readonly type: string;
  /** SQL literals, one row each (ids 1..n). */
  readonly values: readonly string[];
  readonly iceberg: IcebergType;
  readonly setup?: string;
  /** PostgreSQL expression over `v` giving the expected value's text; default: v's own output text. */
  readonly pg?: (v: string) => string;
  /** DuckDB expression over the Parquet column; default: CAST(v AS VARCHAR) in UTC. */
  readonly duck?: (v: string) => string;
  /** How a PostgreSQL text becomes the value expected from Parquet; default: unchanged. */
  readonly expect?: (text: string | null) => Value;
  readonly check?: (got: Value[], file: string) => void | Promise<void>;
}

const rawText = { getTypeParser: () => (value: string) => value };
const asJson = (text: string | null): Value => (text === null ? null : (JSON.parse(text) as Value));
const toJson = (v: string) => `CAST(to_json(${v}) AS VARCHAR)`;
const asNumber = (text: string | null): Value => (text === null ? null : Number(text));
const era = (text: string | null) => text?.replace(/^(\S+)(.*) BC$/, '$1 (BC)$2') ?? null;
const sentinels = (positive: string, negative: string) => (text: string | null) =>
  text === 'infinity' ? positive : text === '-infinity' ? negative : era(text);
const dollar = (text: string) => `$q$${text}$q$`;

// The snapshot's CSV separators (core/types/csv.ts) inside values, alone and doubled; `\.` alone ends a text COPY.
const TRICKY_TEXT = [
  'hé "x", y\nz',
  'emoji 🐘🚀',
  'a,b',
  '"',
  '""',
  'tab\there',
  'crlf\r\nend',
  'back\\slash',
  'NULL',
  'unit\x1fsep',
  '\x1e',
  '\x1e\x1e',
  'a\x1fb\x1ec\n',
  '\\.',
];

const CASES: Record<string, Case> = {
  int2: { type: 'int2', values: ['-32768', '32767', '0', 'NULL'], iceberg: 'int' },
  int4: { type: 'int4', values: ['-2147483648', '2147483647', 'NULL'], iceberg: 'int' },
  int8: { type: 'int8', values: ['-9223372036854775808', '9223372036854775807', 'NULL'], iceberg: 'long' },
  'numeric(12,2)': {
    type: 'numeric(12,2)',
    values: ['1234567890.12', '-0.01', '0', `'NaN'`, 'NULL'],
    iceberg: 'decimal(12, 2)',
    expect: (text) => (text === 'NaN' ? null : text),
  },
  'numeric without typmod': {
    type: 'numeric',
    values: [
      '123456789012345678901234567890123456789012345.000000000000000000000000000001',
      '1e-40',
      `'NaN'`,
      `'Infinity'`,
      `'-Infinity'`,
      'NULL',
    ],
    iceberg: 'string',
  },
  float4: {
    type: 'float4',
    values: ['1.1', '3.4028235e38', '1e-45', '-0', `'NaN'`, `'Infinity'`, `'-Infinity'`, 'NULL'],
    iceberg: 'float',
    duck: (v) => v,
    expect: (text) => (text === null ? null : Math.fround(Number(text))),
  },
  float8: {
    type: 'float8',
    values: [
      '0.1',
      '0.30000000000000004',
      '1.7976931348623157e308',
      '5e-324',
      '-0',
      `'NaN'`,
      `'Infinity'`,
      `'-Infinity'`,
      'NULL',
    ],
    iceberg: 'double',
    duck: (v) => v,
    expect: asNumber,
  },
  bool: {
    type: 'bool',
    values: ['true', 'false', 'NULL'],
    iceberg: 'boolean',
    duck: (v) => `CASE WHEN ${v} THEN 't' WHEN NOT ${v} THEN 'f' END`,
  },
  text: {
    type: 'text',
    values: [...TRICKY_TEXT.map(dollar), `''`, 'NULL', `repeat('x', 3000000)`],
    iceberg: 'string',
    check: (got) => {
      assert.deepEqual(
        got.slice(0, TRICKY_TEXT.length + 2),
        [...TRICKY_TEXT, '', null],
        'empty string and NULL stay apart',
      );
    },
  },
  'varchar(n)': { type: 'varchar(5)', values: [`'abc'`, `'abcde'`, `''`, 'NULL'], iceberg: 'string' },
  'char(n)': {
    type: 'char(4)',
    values: [`'ab'`, `'abcd'`, `''`, 'NULL'],
    iceberg: 'string',
    check: (got) => assert.deepEqual(got, ['ab  ', 'abcd', '    ', null], 'char(n) keeps its padding'),
  },
  citext: {
    type: 'citext',
    setup: 'CREATE EXTENSION IF NOT EXISTS citext',
    values: [`'MiXeD Case'`, 'NULL'],
    iceberg: 'string',
  },
  enum: {
    type: 'mood',
    setup: `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`,
    values: [`'happy'`, `'sad'`, 'NULL'],
    iceberg: 'string',
  },
  'domain over int': {
    type: 'positive_int',
    setup: 'CREATE DOMAIN positive_int AS int4 CHECK (VALUE > 0)',
    values: ['1', '2147483647', 'NULL'],
    iceberg: 'int',
  },
  'domain over text': {
    type: 'short_text',
    setup: 'CREATE DOMAIN short_text AS varchar(8) CHECK (VALUE <> $$forbidden$$)',
    values: [`'short'`, `''`, 'NULL'],
    iceberg: 'string',
  },
  bytea: {
    type: 'bytea',
    values: [`'\\x00ff00'`, `'\\x00'`, `''`, `decode('000102fffe', 'hex')`, 'NULL'],
    iceberg: 'binary',
    duck: (v) => `'\\x' || lower(hex(${v}))`,
  },
  date: {
    type: 'date',
    values: [`'2026-03-29'`, `'1970-01-01'`, `'infinity'`, `'-infinity'`, `'0044-03-15 BC'`, `'10000-01-01'`, 'NULL'],
    iceberg: 'date',
    expect: sentinels('9999-12-31', '0001-01-01'),
  },
  timestamp: {
    type: 'timestamp',
    values: [
      `'2026-01-01 10:00:00.123456'`,
      `'2000-02-29 23:59:59'`,
      `'infinity'`,
      `'-infinity'`,
      `'0044-03-15 10:00:00 BC'`,
      'NULL',
    ],
    iceberg: 'timestamp',
    expect: sentinels('9999-12-31 23:59:59.999999', '0001-01-01 00:00:00'),
  },
  timestamptz: {
    type: 'timestamptz',
    values: [
      `'2026-03-29 01:30:00 Europe/Berlin'`,
      `'2026-03-29 03:30:00 Europe/Berlin'`,
      `'2026-10-25 02:30:00+01'`,
      `'2026-01-01 12:00:00.5 America/New_York'`,
      `'infinity'`,
      `'-infinity'`,
      `'0044-03-15 10:00:00+00 BC'`,
      'NULL',
    ],
    iceberg: 'timestamptz',
    expect: sentinels('9999-12-31 23:59:59.999999+00', '0001-01-01 00:00:00+00'),
    check: (got) =>
      assert.deepEqual(got.slice(0, 4), [
        '2026-03-29 00:30:00+00',
        '2026-03-29 01:30:00+00',
        '2026-10-25 01:30:00+00',
        '2026-01-01 17:00:00.5+00',
      ]),
  },
  time: {
    type: 'time',
    values: [`'00:00:00'`, `'13:45:30.123456'`, `'24:00:00'`, 'NULL'],
    iceberg: 'time',
    expect: (text) => (text === '24:00:00' ? '23:59:59.999999' : text),
  },
  timetz: { type: 'timetz', values: [`'13:45:30+02'`, `'00:00:00.5-05:30'`, 'NULL'], iceberg: 'string' },
  interval: {
    type: 'interval',
    values: [`'1 year 2 months 3 days 04:05:06.5'`, `'-1 day'`, `'0'`, 'NULL'],
    iceberg: 'string',
    check: (got) => assert.equal(got[0], '1 year 2 mons 3 days 04:05:06.5'),
  },
  uuid: {
    type: 'uuid',
    values: [`'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'`, `'00000000-0000-0000-0000-000000000000'`, 'NULL'],
    iceberg: 'uuid',
    check: async (_got, file) => {
      const [row] = await readRows(
        `SELECT type, type_length, logical_type FROM parquet_schema('${file}') WHERE name = 'v'`,
      );
      assert.deepEqual(row?.slice(0, 2), ['FIXED_LEN_BYTE_ARRAY', '16']);
      assert.match(String(row?.[2]), /UUID/);
    },
  },
  json: {
    type: 'json',
    values: [`'{"b": 1,   "a": [1, 2], "a": 3}'`, `'"text"'`, `'null'`, 'NULL'],
    iceberg: 'string',
    check: (got) =>
      assert.deepEqual(got, ['{"b": 1,   "a": [1, 2], "a": 3}', '"text"', 'null', null], 'json keeps its text'),
  },
  jsonb: {
    type: 'jsonb',
    values: [`'{"b": 1,   "a": [1, 2], "a": 3}'`, `'null'`, 'NULL'],
    iceberg: 'string',
    check: (got) => assert.deepEqual(got, ['{"a": 3, "b": 1}', 'null', null], 'jsonb is normalized by PostgreSQL'),
  },
  'int[] with NULL elements': {
    type: 'int4[]',
    values: [`'{1,NULL,3}'`, `'{}'`, `'{{1,2},{3,4}}'`, `'[0:1]={5,6}'`, 'NULL'],
    iceberg: { type: 'list', 'element-id': 3, element: 'int', 'element-required': false },
    pg: (v) => `CASE WHEN ${v} IS NOT NULL THEN to_jsonb(ARRAY(SELECT unnest(${v})))::text END`,
    duck: toJson,
    expect: asJson,
    check: (got) => assert.deepEqual(got, [[1, null, 3], [], [1, 2, 3, 4], [5, 6], null]),
  },
  'text[] with commas and quotes': {
    type: 'text[]',
    values: [`ARRAY['a,b', 'say "hi"', '{braces}', '', NULL, 'back\\slash', 'NULL', 'é🐘']`, `'{}'`, 'NULL'],
    iceberg: { type: 'list', 'element-id': 3, element: 'string', 'element-required': false },
    pg: (v) => `to_jsonb(${v})::text`,
    duck: toJson,
    expect: asJson,
  },
  'numeric(10,2)[]': {
    type: 'numeric(10,2)[]',
    values: [`'{1.5,NaN,NULL,-3}'`, 'NULL'],
    iceberg: { type: 'list', 'element-id': 3, element: 'decimal(10, 2)', 'element-required': false },
    duck: (v) => `CAST(list_transform(${v}, lambda e: CAST(e AS VARCHAR)) AS VARCHAR)`,
    expect: (text) => (text === null ? null : '[1.50, NULL, NULL, -3.00]'),
  },
  '2-D array': {
    type: 'int4[][]',
    values: [`'{{1,2},{3,4}}'`, `'{{NULL,5}}'`, `'{1,2}'`, `'{}'`, 'NULL'],
    iceberg: 'string',
  },
  inet: { type: 'inet', values: [`'192.168.0.1/24'`, `'::1'`, 'NULL'], iceberg: 'string' },
  money: {
    type: 'money',
    values: [`'1234.56'`, `'-0.01'`, 'NULL'],
    iceberg: 'string',
    check: (got) => assert.deepEqual(got, ['$1,234.56', '-$0.01', null]),
  },
};

let reader: DuckDBConnection;
async function readRows(sql: string): Promise<unknown[][]> {
  return (await reader.runAndReadAll(sql)).getRowsJS();
}

describe('PostgreSQL types through COPY, DuckDB and Parquet', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let duck: OpenDuckDB;
  let client: pg.Client;
  const dir = tempDir('pg-cdc-types-');

  before(async () => {
    db = await freshDatabase('types');
    client = new pg.Client({ connectionString: db.url() });
    await client.connect();
    await client.query(sourceSessionSql());
    duck = await openDuckDB({ threads: 2 });
    reader = await (await DuckDBInstance.create(':memory:')).connect();
    await reader.run(`SET TimeZone = 'UTC'`);
  });
  after(async () => {
    duck?.close();
    reader?.closeSync();
    await client?.end();
  });

  async function toParquet(table: string, plan: TablePlan, via: 'fifo' | 'file'): Promise<string> {
    const output = join(dir, `${table}.parquet`);
    const copy = copyStatement(`SELECT ${plan.selectList()} FROM ${quoteIdentifier(table)}`);
    const stream = client.query(copyOut(copy));
    const request = { csvColumns: plan.csvColumns(), select: plan.duckdbSelect(), fieldIds: plan.fieldIds(), output };
    if (via === 'fifo') {
      await writeParquetFromStream(duck.connection, stream, request);
    } else {
      const csv = join(dir, `${table}.csv`);
      await pipeline(stream, createWriteStream(csv));
      await writeParquetFromCsv(duck.connection, { ...request, input: csv });
    }
    return output;
  }

  for (const [label, c] of Object.entries(CASES)) {
    it(label, async (t) => {
      if (c.setup) {
        try {
          await client.query(c.setup);
        } catch (error) {
          if (label !== 'citext') throw error;
          // postgresql-contrib is not installed: fine on a workstation, a failure in CI.
          return t.skip(skipLoudlyOrFail(`citext is not available: ${(error as Error).message}`));
        }
      }
      const table = uniqueName('t');
      await client.query(`CREATE TABLE ${table} (id int4 PRIMARY KEY, v ${c.type})`);
      await client.query(`INSERT INTO ${table} VALUES ${c.values.map((v, i) => `(${i + 1}, ${v})`).join(', ')}`);
      const plan = planTable(await readTableColumns(client, 'public', table));
      assert.deepEqual(plan.schema.fields[1]?.type, c.iceberg);
      const file = await toParquet(table, plan, 'fifo');

      const pgExpr = (c.pg ?? ((v: string) => v))('v');
      const pgRows = await client.query<{ v: string | null }>({
        text: `SELECT ${pgExpr} AS v FROM ${table} ORDER BY id`,
        types: rawText,
      });
      const expected = pgRows.rows.map((row) => (c.expect ?? ((x) => x))(row.v));
      const duckExpr = (c.duck ?? ((v: string) => `CAST(${v} AS VARCHAR)`))('v');
      const read = (await readRows(`SELECT ${duckExpr} FROM '${file}' ORDER BY id`)).map((row) => row[0] as Value);
      const got = c.expect === asJson ? read.map((value) => asJson(value as string | null)) : read;
      assert.deepEqual(got, expected);

      const ids = await readRows(
        `SELECT name, field_id::INTEGER FROM parquet_schema('${file}') WHERE field_id IS NOT NULL`,
      );
      const list = typeof c.iceberg !== 'string';
      assert.deepEqual(ids, [['id', 1], ['v', 2], ...(list ? [['element', 3]] : [])]);
      await c.check?.(got, file);
    });
  }

  it('a numeric NaN in a primary key stops the write with an error naming the column', async () => {
    const table = uniqueName('t');
    await client.query(`CREATE TABLE ${table} (k numeric(10,2) PRIMARY KEY); INSERT INTO ${table} VALUES (1), ('NaN')`);
    const plan = planTable(await readTableColumns(client, 'public', table));
    await assert.rejects(toParquet(table, plan, 'fifo'), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'PARQUET_WRITE_FAILED');
      assert.match(error.message, /numeric NaN in primary key column k has no decimal form/);
      return true;
    });
    assert.equal(existsSync(join(dir, `${table}.parquet`)), false);
  });

  it('odd column names and every mapping in one table survive, and pyarrow reads the file', async (t) => {
    const table = uniqueName('Mixed Case');
    await client.query(`CREATE TYPE "Feeling ""x""" AS ENUM ('meh', 'yay')`);
    await client.query(`CREATE TABLE ${quoteIdentifier(table)} (
      id int8 PRIMARY KEY, "Name With Space" text, "it's ""q""" varchar(10), "ünï 名" numeric(12,2), "Mixed" float8,
      "mixed" int4, "f" "Feeling ""x""", b bool, ts timestamptz, d date, tm time, u uuid, "by" bytea, j jsonb,
      a int4[], ta text[], na numeric(10,2)[], iv interval, n numeric)`);
    await client.query(`INSERT INTO ${quoteIdentifier(table)} VALUES
      (1, 'héllo 🐘', 'q"q', 12.5, 'NaN', 1, 'yay', true, '2026-03-29 01:30:00 Europe/Berlin', '2026-03-29', '24:00',
       'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff', '{"k": [1]}', '{1,NULL}', '{"a,b",NULL}', '{1.5}',
       '1 day', 'NaN'),
      (2, '', '', 'NaN', '-Infinity', -1, 'meh', false, 'infinity', '-infinity', '00:00', NULL, '', 'null', '{}', '{}',
       '{}', '-1 day', '1e-40'),
      (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`);
    const plan = planTable(await readTableColumns(client, 'public', table));
    assert.deepEqual(plan.schema['identifier-field-ids'], [1]);
    const file = await toParquet(table, plan, 'file');
    const names = (await readRows(`SELECT name FROM parquet_schema('${file}') WHERE field_id <= 19`)).map((r) => r[0]);
    assert.deepEqual(
      names,
      plan.columns.map((c) => c.parquetName),
    );
    assert.equal(plan.columns.find((c) => c.name === 'mixed')?.parquetName, 'mixed__6');
    const [first] = await readRows(
      `SELECT "Name With Space", "it's ""q""", "ünï 名"::VARCHAR, "f" FROM '${file}' WHERE id = 1`,
    );
    assert.deepEqual(first, ['héllo 🐘', 'q"q', '12.50', 'yay']);

    const { python, skip } = pythonOrSkip();
    if (!python) return t.skip(skip);
    const script = [
      'import json, sys, pyarrow.parquet as pq',
      't = pq.read_table(sys.argv[1])',
      "ids = [int(f.metadata[b'PARQUET:field_id']) for f in t.schema]",
      // JSON has no NaN: floats travel as their repr.
      'rows = [{k: repr(v) if isinstance(v, float) else v for k, v in r.items()} for r in t.to_pylist()]',
      "print(json.dumps({'names': t.schema.names, 'ids': ids, 'rows': rows}, default=str))",
    ].join('\n');
    const out = JSON.parse(execFileSync(python, ['-c', script, file], { encoding: 'utf8' })) as {
      names: string[];
      ids: number[];
      rows: Array<Record<string, unknown>>;
    };
    assert.deepEqual(
      out.names,
      plan.columns.map((c) => c.parquetName),
    );
    assert.deepEqual(
      out.ids,
      plan.columns.map((c) => c.fieldId),
    );
    assert.equal(out.rows.length, 3);
    const [one, two] = out.rows;
    assert.equal(one?.['Name With Space'], 'héllo 🐘');
    assert.equal(one?.['ünï 名'], '12.50');
    assert.equal(one?.ts, '2026-03-29 00:30:00+00:00');
    assert.equal(one?.tm, '23:59:59.999999');
    assert.deepEqual(one?.a, [1, null]);
    assert.equal(one?.Mixed, 'nan');
    assert.equal(two?.Mixed, '-inf');
    assert.equal(two?.['ünï 名'], null);
    assert.equal(two?.ts, '9999-12-31 23:59:59.999999+00:00');
    assert.equal(two?.d, '0001-01-01');
    assert.equal(two?.n, '0.0000000000000000000000000000000000000001');
  });
});
