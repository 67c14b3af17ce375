/**
 * pgArrayToJson against PostgreSQL itself: for a corpus of array values of many element types, the JSON the stream
 * path derives from the walsender's array text equals the JSON the snapshot's select list produces for the same
 * value. Every value also travels through a real ReplicationStream, so the text parsed is exactly what pgoutput sent.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { sourceSessionSql } from '../../core/types/index.js';
import {
  pgArrayToJson,
  ReplicationStream,
  type PgoutputMessage,
  type RelationMessage,
} from '../../source/replication/index.js';
import { freshDatabase, uniqueName } from '../support/stack.js';

interface Case {
  readonly expression: string;
}

const CORPUS: readonly Case[] = [
  { expression: `ARRAY['plain', 'with space', 'with,comma', 'with"quote', 'back\\slash', '{brace}', '}', '']::text[]` },
  { expression: `ARRAY['NULL', 'null', ' lead', 'trail ', 'a=b', '[0:1]', '"', '\\', '\\"']::text[]` },
  { expression: `ARRAY['é', '🐘🚀', '日本語', E'tab\\there', E'new\\nline', E'cr\\r\\n', E'\\x01ctl']::text[]` },
  { expression: `ARRAY[NULL, 'x', NULL]::text[]` },
  { expression: `ARRAY[NULL, NULL]::text[]` },
  { expression: `'{}'::text[]` },
  { expression: `ARRAY['short', 'NULL', '']::varchar(8)[]` },
  { expression: `ARRAY['ab', 'abc', '']::char(3)[]` },
  { expression: `ARRAY[1, -2, 2147483647, NULL]::int4[]` },
  { expression: `ARRAY[-9223372036854775808, 0, 9223372036854775807]::int8[]` },
  { expression: `ARRAY[-32768, NULL]::int2[]` },
  { expression: `ARRAY[1.50, -0.001, 'NaN', 123456789012345678901234567890.123456789]::numeric[]` },
  { expression: `ARRAY[0.1::float8 + 0.2::float8, 'Infinity', '-Infinity', 'NaN', 1e300, '-0', 5e-324]::float8[]` },
  { expression: `ARRAY[1.1, 3.4028235e38, NULL]::float4[]` },
  { expression: `ARRAY[true, false, NULL]::bool[]` },
  { expression: `ARRAY['2026-03-29 01:30:00+02', 'infinity', '0044-03-15 12:00:00+00 BC', NULL]::timestamptz[]` },
  { expression: `ARRAY['2024-02-29 23:59:59.999999', '-infinity']::timestamp[]` },
  { expression: `ARRAY['2024-02-29', '-infinity', '4713-01-01 BC']::date[]` },
  { expression: `ARRAY['24:00:00', '00:00:00.5']::time[]` },
  { expression: `ARRAY['12:00:00+05:30']::timetz[]` },
  { expression: `ARRAY['1 year 2 mons 3 days 04:05:06', '-1 day', '0']::interval[]` },
  { expression: `ARRAY['\\x00ff'::bytea, ''::bytea, 'abc'::bytea, NULL]` },
  { expression: `ARRAY['{"a": 1, "b": [1, "x,y"]}', '"str"', 'null', '[]', '{"q": "say \\"hi\\""}']::jsonb[]` },
  { expression: `ARRAY['{"k":  "v"}', '[1, {}]']::json[]` },
  { expression: `ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11']::uuid[]` },
  { expression: `ARRAY['192.168.0.1/24', '::1', '10.0.0.1', '::ffff:1.2.3.4', NULL]::inet[]` },
  { expression: `ARRAY['10.0.0.0/8', '2001:db8::/32']::cidr[]` },
  { expression: `ARRAY['(1,2)', '(3.5,-4)']::point[]` },
  { expression: `ARRAY['(1,1),(0,0)', '(3,3),(2,2)']::box[]` },
  { expression: `ARRAY['happy', 'sad', NULL]::mood[]` },
  { expression: `ARRAY[ROW(1, 'a b')::pair, ROW(NULL, 'x"y,z')::pair, NULL]` },
  { expression: `ARRAY['[1,5)', 'empty', '(,3]']::int4range[]` },
  { expression: `ARRAY[12.5, -3]::money[]` },
  { expression: `ARRAY['a:1 b:2', 'it''s']::tsvector[]` },
  { expression: `ARRAY[B'101', B'']::varbit[]` },
  { expression: `'{{1,2},{3,4}}'::int[]` },
  { expression: `'{{{a,b}},{{c,NULL}}}'::text[]` },
  { expression: `'[0:1]={7,8}'::int[]` },
  { expression: `'[-2:-1][3:4]={{"x y",NULL},{"}",","}}'::text[]` },
  { expression: `'{{"2026-01-01 00:00:00+00",NULL}}'::timestamptz[]` },
  { expression: `array_fill(NULL::int, ARRAY[2, 2])` },
];

const SNAPSHOT_JSON = (v: string) =>
  `to_jsonb((CASE WHEN array_ndims(${v}) > 1 THEN ARRAY(SELECT unnest(${v})) ELSE ${v} END)::text[])::text`;

let db: Awaited<ReturnType<typeof freshDatabase>>;
let client: pg.Client;
/** Per case: its table, array type oid, output text and the snapshot's JSON, both under the source settings. */
const expected: Array<{ table: string; typeOid: number; text: string; json: string }> = [];

before(async () => {
  db = await freshDatabase('arrays');
  client = new pg.Client({ connectionString: db.url() });
  await client.connect();
  // Settings that would change element text if the session settings did not apply.
  await client.query(`SET TimeZone = 'America/New_York'; SET DateStyle = 'SQL, DMY'`);
  await client.query(`CREATE TYPE mood AS ENUM ('sad', 'happy'); CREATE TYPE pair AS (n int, s text)`);
  await client.query(sourceSessionSql());
  for (const [index, testCase] of CORPUS.entries()) {
    const table = `a_${index}`;
    const { rows } = await client.query<{ type: number; text: string; json: string }>(
      `SELECT pg_typeof(v)::oid AS type, v::text AS text, ${SNAPSHOT_JSON('v')} AS json FROM (SELECT ${testCase.expression} AS v) s`,
    );
    const row = rows[0]!;
    // CREATE TABLE AS keeps the expression's exact type, typmod included (char(3)[] stays char(3)[]).
    await client.query(`CREATE TABLE ${table} AS SELECT 1 AS id, ${testCase.expression} AS v WITH NO DATA`);
    await client.query(`ALTER TABLE ${table} ADD PRIMARY KEY (id)`);
    expected.push({ table, typeOid: Number(row.type), text: row.text, json: row.json });
  }
  await client.query(`CREATE PUBLICATION arrays_pub FOR TABLE ${expected.map((e) => e.table).join(', ')}`);
});

after(async () => {
  await client?.end();
});

describe('pgArrayToJson against PostgreSQL', () => {
  it(`has a corpus of ${CORPUS.length} values`, () => {
    assert.ok(CORPUS.length >= 30);
  });

  it('equals the snapshot JSON for array_out text under the source session settings', () => {
    for (const [index, { typeOid, text, json }] of expected.entries()) {
      const got: unknown = JSON.parse(pgArrayToJson(text, typeOid));
      assert.deepEqual(got, JSON.parse(json), `${CORPUS[index]!.expression} printed as ${text}`);
    }
  });

  it('equals the snapshot JSON for the text pgoutput sends', async () => {
    const slot = uniqueName('arrays_slot');
    await client.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    await client.query('BEGIN');
    for (const [index, testCase] of CORPUS.entries()) {
      await client.query(`INSERT INTO a_${index} VALUES (1, ${testCase.expression})`);
    }
    await client.query('COMMIT');

    const stream = await ReplicationStream.open({
      settings: { url: db.url(), schemas: ['public'] },
      slot,
      publication: 'arrays_pub',
      protoVersion: 1,
    });
    const tables = new Map<number, RelationMessage>();
    const values = new Map<string, { text: string; typeOid: number }>();
    try {
      for await (const event of stream) {
        if (event.kind !== 'xlog') continue;
        const message: PgoutputMessage = event.message;
        if (message.tag === 'relation') tables.set(message.relationId, message);
        if (message.tag === 'insert') {
          const text = message.newTuple.value(1);
          const relation = tables.get(message.relationId)!;
          assert.ok(typeof text === 'string');
          values.set(relation.name, { text, typeOid: relation.columns[1]!.typeOid });
        }
        if (message.tag === 'commit') break;
      }
    } finally {
      await stream.close();
    }
    assert.equal(values.size, CORPUS.length);
    for (const [index, { table, typeOid, text, json }] of expected.entries()) {
      const sent = values.get(table)!;
      assert.equal(sent.typeOid, typeOid);
      assert.equal(sent.text, text, `walsender text for ${CORPUS[index]!.expression}`);
      assert.deepEqual(JSON.parse(pgArrayToJson(sent.text, sent.typeOid)), JSON.parse(json));
    }
  });
});
