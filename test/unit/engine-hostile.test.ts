/**
 * Hostile input against the governed engine, over a real lake: every entry must be refused with one of the engine's
 * codes and a hint, and nothing in the answer may name a hidden column, a hidden table's content, a file or a path.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isPgCdcError } from '../../core/errors/index.js';
import type { QueryEngine, ReadAt, SqlQuery, StructuredQuery } from '../../engine/index.js';
import { buildLake, engineFor, GRANTS, TestPolicy, type FixtureLake } from './engine-fixture.js';

type Hostile = { name: string; query: SqlQuery | StructuredQuery; at?: ReadAt; codes?: readonly string[] };

const sql = (name: string, text: string, codes?: readonly string[]): Hostile => ({
  name,
  query: { kind: 'sql', sql: text },
  ...(codes ? { codes } : {}),
});

const FILES_AND_NETWORK = [
  sql('read_csv', "SELECT * FROM read_csv('/etc/passwd')"),
  sql('read_csv_auto', "SELECT * FROM read_csv_auto('/etc/hosts')"),
  sql('read_parquet on the lake', "SELECT * FROM read_parquet('lake/public/people/data/a.parquet')"),
  sql('parquet_scan glob', "SELECT email FROM parquet_scan('**/*.parquet')"),
  sql('read_json', "SELECT * FROM read_json('/etc/passwd')"),
  sql('read_json_auto over http', "SELECT * FROM read_json_auto('https://example.com/x.json')"),
  sql('read_ndjson', "SELECT * FROM read_ndjson('/tmp/x.ndjson')"),
  sql('read_text', "SELECT content FROM read_text('/etc/passwd')"),
  sql('read_blob', "SELECT content FROM read_blob('/etc/shadow')"),
  sql('glob', "SELECT * FROM glob('/**')"),
  sql('parquet_metadata', "SELECT * FROM parquet_metadata('lake/public/people/data/a.parquet')"),
  sql('parquet_schema', "SELECT name FROM parquet_schema('lake/public/people/data/*.parquet')"),
  sql('sniff_csv', "SELECT * FROM sniff_csv('/etc/passwd')"),
  sql('replacement scan on a path', "SELECT * FROM '/etc/passwd'"),
  sql('replacement scan on a parquet name', 'SELECT * FROM "a.parquet"'),
  sql('read_csv over http in a join', "SELECT * FROM public.people, read_csv('http://example.com/x.csv')"),
  sql('table function in a subquery', "SELECT (SELECT content FROM read_text('/etc/passwd'))"),
  sql('table function FROM-first', "FROM read_text('/etc/passwd')"),
  sql('query() table function', "SELECT * FROM query('SELECT * FROM secret.keys')"),
  sql('query_table()', "SELECT * FROM query_table('secret.keys')"),
  sql('range table function', 'SELECT * FROM range(10)'),
  sql('unnest in FROM', 'SELECT * FROM unnest([1, 2])'),
];

const CATALOG_AND_SETTINGS = [
  sql('duckdb_tables()', 'SELECT * FROM duckdb_tables()'),
  sql('duckdb_views() (view bodies name files)', 'SELECT sql FROM duckdb_views()'),
  sql('duckdb_columns view unqualified', 'SELECT * FROM duckdb_columns'),
  sql('duckdb_settings()', 'SELECT * FROM duckdb_settings()'),
  sql('duckdb_secrets()', 'SELECT * FROM duckdb_secrets()'),
  sql('pragma_table_info', "SELECT * FROM pragma_table_info('public.people')"),
  sql('pragma_version', 'SELECT * FROM pragma_version()'),
  sql('information_schema.columns', 'SELECT column_name FROM information_schema.columns'),
  sql('information_schema.tables', 'SELECT * FROM information_schema.tables'),
  sql('pg_catalog.pg_class', 'SELECT * FROM pg_catalog.pg_class'),
  sql('pg_class unqualified', 'SELECT * FROM pg_class'),
  sql('sqlite_master', 'SELECT * FROM sqlite_master'),
  sql('catalog-qualified table', 'SELECT * FROM memory.public.people'),
  sql('system catalog', 'SELECT * FROM system.main.duckdb_tables'),
  sql('current_setting()', "SELECT current_setting('allowed_directories')"),
  sql('getvariable()', "SELECT getvariable('x')"),
  sql('version()', 'SELECT version()'),
  sql('current_query()', 'SELECT current_query()'),
  sql('json_serialize_plan() binds SQL in a string', "SELECT json_serialize_plan('SELECT * FROM read_parquet(''x'')')"),
  sql('list_aggregate() calls by name', "SELECT list_aggregate([1], 'string_agg')"),
  sql('setseed()', 'SELECT setseed(0.5)'),
  sql('sleep_ms()', 'SELECT sleep_ms(100000)'),
  sql('write_log()', "SELECT write_log('x')"),
  sql('pg_get_viewdef()', "SELECT pg_get_viewdef('public.people')"),
  sql('schema-qualified function', 'SELECT pg_catalog.abs(1)'),
  sql('catalog-qualified function', 'SELECT system.main.abs(1)'),
  sql(
    'a CTE body reading the catalog under its own name',
    'WITH pg_class AS (SELECT * FROM pg_class) SELECT * FROM pg_class',
  ),
  sql(
    'a CTE body reading a name defined later',
    'WITH a AS (SELECT * FROM duckdb_tables), duckdb_tables AS (SELECT 1) SELECT * FROM a',
  ),
  sql(
    'a recursive anchor reading the catalog',
    'WITH RECURSIVE duckdb_views AS (SELECT * FROM duckdb_views UNION ALL SELECT * FROM duckdb_views) SELECT 1',
  ),
];

const STATEMENTS = [
  sql('COPY TO', "COPY public.people TO '/tmp/people.csv'"),
  sql('COPY query TO', "COPY (SELECT * FROM public.people) TO '/tmp/x.parquet' (FORMAT parquet)"),
  sql('COPY FROM', "COPY public.people FROM '/etc/passwd'"),
  sql('ATTACH', "ATTACH '/tmp/x.duckdb' AS x"),
  sql('DETACH', 'DETACH memory'),
  sql('INSTALL', 'INSTALL httpfs'),
  sql('LOAD', 'LOAD httpfs'),
  sql('PRAGMA', 'PRAGMA version'),
  sql('PRAGMA table_info', "PRAGMA table_info('public.people')"),
  sql('SET external access', 'SET enable_external_access = true'),
  sql('SET unlock', 'SET lock_configuration = false'),
  sql('RESET', 'RESET ALL'),
  sql('CALL', 'CALL pragma_version()'),
  sql('EXPORT DATABASE', "EXPORT DATABASE '/tmp/dump'"),
  sql('IMPORT DATABASE', "IMPORT DATABASE '/tmp/dump'"),
  sql('CREATE TABLE AS', 'CREATE TABLE t AS SELECT * FROM public.people'),
  sql('CREATE MACRO', 'CREATE MACRO f(x) AS x'),
  sql('CREATE SECRET', "CREATE SECRET (TYPE s3, KEY_ID 'x', SECRET 'y')"),
  sql('DROP VIEW', 'DROP VIEW public.people'),
  sql('INSERT', 'INSERT INTO public.people VALUES (1)'),
  sql('UPDATE', "UPDATE public.people SET name = 'x'"),
  sql('DELETE', 'DELETE FROM public.people'),
  sql('EXPLAIN', 'EXPLAIN SELECT * FROM public.people'),
  sql('EXPLAIN ANALYZE', 'EXPLAIN ANALYZE SELECT * FROM public.people'),
  sql('DESCRIBE', 'DESCRIBE public.people'),
  sql('SHOW TABLES', 'SHOW TABLES'),
  sql('SHOW ALL TABLES', 'SHOW ALL TABLES'),
  sql('SUMMARIZE', 'SUMMARIZE public.people'),
  sql('PIVOT', 'PIVOT public.orders ON status USING sum(amount)'),
  sql('USE', 'USE secret'),
  sql('PREPARE', 'PREPARE p AS SELECT 1'),
  sql('CHECKPOINT', 'CHECKPOINT'),
  sql('BEGIN', 'BEGIN TRANSACTION'),
];

const SMUGGLING = [
  sql('two statements', 'SELECT 1; SELECT 2'),
  sql('a SELECT then DROP', 'SELECT 1; DROP VIEW public.people'),
  sql('a SELECT then COPY', "SELECT * FROM public.orders; COPY public.people TO '/tmp/x.csv'"),
  sql('a line comment ends before the second statement', "SELECT 1 -- harmless\n; ATTACH '/tmp/x.duckdb'"),
  sql('a block comment before PRAGMA', '/* just a SELECT */ PRAGMA version'),
  sql('an unterminated comment', 'SELECT 1 /* ; PRAGMA version'),
  sql('a dollar-quoted string then PRAGMA', 'SELECT $q$ x $q$; PRAGMA version'),
  sql('a quote inside a comment', "SELECT 'a' /* ' */ ; PRAGMA version --'"),
  sql('a NUL byte', 'SELECT 1\u0000; PRAGMA version'),
  sql('a vertical tab', 'SELECT\u000b1'),
  sql('a string concatenated into a table function', "SELECT * FROM read_csv('/etc/' || 'passwd')"),
  sql('a quoted table function name', `SELECT * FROM "read_csv"('/etc/passwd')`),
  sql('parameters', 'SELECT $1'),
  sql('a positional parameter', 'SELECT ?'),
  sql('AT (VERSION)', 'SELECT * FROM public.people AT (VERSION => 1)'),
  sql('TABLESAMPLE', 'SELECT * FROM public.people TABLESAMPLE 50%'),
  sql('empty SQL', '   '),
  sql('far too long', `SELECT 1${' '.repeat(100_001)}`),
  sql('not SQL', 'hello world'),
];

// Planning cannot be interrupted: shapes whose planning explodes are refused before DuckDB sees them.
const PLANNER_BOMBS = [
  sql('50 nested scalar subqueries', `SELECT ${'(SELECT '.repeat(50)}1${')'.repeat(50)}`),
  sql('300 scalar subqueries', `SELECT ${Array.from({ length: 300 }, (_, i) => `(SELECT ${i})`).join(', ')}`),
  sql(
    'a 20-way join',
    `SELECT count(*) FROM ${Array.from({ length: 20 }, (_, i) => `public.orders o${i}`).join(', ')}`,
  ),
  sql('20000 nested parentheses', `SELECT ${'('.repeat(20_000)}1${')'.repeat(20_000)}`),
];

const HIDDEN = [
  sql('a hidden column', 'SELECT email FROM public.people'),
  sql('a hidden column, quoted', 'SELECT "email" FROM "public"."people"'),
  sql('a hidden column through an alias', 'SELECT p.email FROM public.people p'),
  sql('a hidden column in a scalar subquery', 'SELECT (SELECT email FROM public.people LIMIT 1)'),
  sql('a hidden column in a CTE', 'WITH x AS (SELECT email FROM public.people) SELECT * FROM x'),
  sql('a hidden column in WHERE', "SELECT id FROM public.people WHERE email LIKE 'p1%'"),
  sql('a hidden column in EXCLUDE', 'SELECT * EXCLUDE (email) FROM public.people'),
  sql('a hidden column through LATERAL', 'SELECT * FROM public.people p JOIN LATERAL (SELECT p.email) x ON true'),
  sql('a hidden column matched by COLUMNS()', "SELECT COLUMNS('.*mail.*') FROM public.people"),
  sql('a hidden changelog column', 'SELECT _old_email FROM public.people__changes'),
  sql('the unchanged-columns list of a partly hidden table', 'SELECT _unchanged_toast FROM public.people__changes'),
  sql('a hidden column of an empty table', 'SELECT secret_note FROM public.empty'),
  sql('the scan file name', 'SELECT filename FROM public.people'),
  sql('the scan row number', 'SELECT file_row_number FROM public.people'),
  sql('rowid', 'SELECT rowid FROM public.people'),
  sql('a hidden table', 'SELECT * FROM secret.keys'),
  sql('a hidden table in a subquery', 'SELECT * FROM public.people WHERE id IN (SELECT id FROM secret.keys)'),
  sql('a hidden table in a UNION', 'SELECT id, name FROM public.people UNION ALL SELECT id, api_key FROM secret.keys'),
  sql('a hidden table under an innocent alias', 'SELECT * FROM "secret"."keys" AS "people"'),
  sql('path traversal in a schema', 'SELECT * FROM "../../etc"."passwd"'),
  sql('path traversal in a table name', 'SELECT * FROM "public"."people/../../secret/keys"'),
  sql('a dotted identifier in one pair of quotes', 'SELECT * FROM "public.people"'),
  sql('escaped quotes in an identifier', 'SELECT * FROM "public"".""people"'),
  sql('a doubled changelog suffix', 'SELECT * FROM public.people__changes__changes'),
  sql('an unqualified table', 'SELECT * FROM people'),
];

const structured = (name: string, query: Omit<StructuredQuery, 'kind'>, at?: ReadAt): Hostile => ({
  name,
  query: { kind: 'structured', ...query },
  ...(at ? { at } : {}),
});

const STRUCTURED = [
  structured('a filter without operator', { table: 'public.people', where: ['id'] }),
  structured('an unknown operator', { table: 'public.people', where: ['id:between:1'] }),
  structured('a filter without column', { table: 'public.people', where: [':eq:1'] }),
  structured('a binary operator without value', { table: 'public.people', where: ['id:eq'] }),
  structured('a unary operator with a value', { table: 'public.people', where: ['name:isnull:x'] }),
  structured('a filter on a hidden column', { table: 'public.people', where: ['email:eq:p1@example.com'] }),
  structured('SQL in a filter value', { table: 'public.people', where: ['id:eq:1 OR 1=1'] }),
  structured('a hidden column asked for', { table: 'public.people', columns: ['id', 'email'] }),
  structured('a column with SQL in its name', { table: 'public.people', columns: ['id; DROP VIEW public.people'] }),
  structured('a quoted column name', { table: 'public.people', columns: ['"id"'] }),
  structured('a filter object on a hidden column', {
    table: 'public.people',
    filters: [{ column: 'email', op: 'eq', value: 'x' }],
  }),
  structured('a filter object with an unknown op', {
    table: 'public.people',
    filters: [{ column: 'id', op: 'between' as 'eq', value: '1' }],
  }),
  structured('a hidden table by name', { table: 'secret.keys' }),
  structured('a table path', { table: '../../secret/keys' }),
  structured('limit 0', { table: 'public.people', limit: 0 }),
  structured('a negative limit', { table: 'public.people', limit: -1 }),
  structured('a fractional limit', { table: 'public.people', limit: 1.5 }),
  structured('a huge limit', { table: 'public.people', limit: 1e12 }),
  structured('an unsafe limit', { table: 'public.people', limit: Number.MAX_SAFE_INTEGER + 2 }),
  structured('a NaN limit', { table: 'public.people', limit: Number.NaN }),
  structured('an unknown ref', { table: 'public.people' }, { ref: 'nope' }),
  structured('a path as ref', { table: 'public.people' }, { ref: '../../../etc/passwd' }),
  structured('a ref with a control character', { table: 'public.people' }, { ref: 'main\u0000' }),
  structured('an empty ref', { table: 'public.people' }, { ref: '' }),
  structured('a very long ref', { table: 'public.people' }, { ref: 'x'.repeat(300) }),
  structured('a snapshot id that is not a number', { table: 'public.people' }, { snapshotId: '1 OR 1=1' }),
  structured('an unknown snapshot id', { table: 'public.people' }, { snapshotId: '123' }),
  structured('a ref and a snapshot id', { table: 'public.people' }, { ref: 'main', snapshotId: '1' }),
];

const CORPUS: Hostile[] = [
  ...FILES_AND_NETWORK,
  ...CATALOG_AND_SETTINGS,
  ...STATEMENTS,
  ...SMUGGLING,
  ...PLANNER_BOMBS,
  ...HIDDEN,
  ...STRUCTURED,
  {
    name: 'a huge limit on SQL',
    query: { kind: 'sql', sql: 'SELECT * FROM public.people', limit: 10 ** 9 },
  },
];

const ENGINE_CODES = [
  'QUERY_INVALID',
  'TABLE_NOT_FOUND',
  'COLUMN_NOT_FOUND',
  'REF_INVALID',
  'REF_NOT_FOUND',
  'SNAPSHOT_NOT_FOUND',
  'QUERY_FAILED',
];

describe('the engine refuses hostile input and leaks nothing', () => {
  let lake: FixtureLake;
  let engine: QueryEngine;
  before(async () => {
    lake = await buildLake();
    engine = engineFor(lake, new TestPolicy(GRANTS), { row_limit: 1000 });
  });
  after(async () => {
    await engine.close();
    lake.cleanup();
  });

  it(`has a corpus of at least 60 entries (${CORPUS.length})`, () => {
    assert.ok(CORPUS.length >= 60);
    assert.equal(new Set(CORPUS.map((c) => c.name)).size, CORPUS.length, 'names are unique');
  });

  for (const hostile of CORPUS) {
    it(`refuses ${hostile.name}`, async () => {
      const error: unknown = await engine.query('analyst', hostile.query, hostile.at).then(
        (result) => assert.fail(`accepted: ${JSON.stringify(result.rows).slice(0, 200)}`),
        (e: unknown) => e,
      );
      assert.ok(isPgCdcError(error), `a PgCdcError, got ${String(error)}`);
      assert.ok((hostile.codes ?? ENGINE_CODES).includes(error.code), `${error.code}: ${error.message}`);
      assert.ok(error.message.length > 10 && (error.hint ?? '').length > 10, 'a message and a hint');
      const answer = `${error.message}\n${error.hint ?? ''}\n${JSON.stringify(error.context)}`;
      const asked = JSON.stringify(hostile.query) + JSON.stringify(hostile.at ?? {});
      for (const secret of [lake.root, 'sk-live-123', 'p1@example.com', 'old1@example.com', 'file:/', 'Error:']) {
        assert.ok(!answer.includes(secret), `leaks ${secret}: ${answer}`);
      }
      for (const hidden of ['email', 'secret_note', 'api_key', '_old_email', '_unchanged_toast', 'keys', '.parquet']) {
        if (!asked.includes(hidden)) assert.ok(!answer.includes(hidden), `names ${hidden}: ${answer}`);
      }
    });
  }

  it('the tables are intact after the corpus, and comments inside one SELECT stay comments', async () => {
    const people = await engine.query('admin', { kind: 'sql', sql: 'SELECT count(*) AS n FROM public.people' });
    assert.deepEqual(people.rows, [[6]]);
    for (const text of [
      'SELECT 1 AS x /* ; PRAGMA version */',
      "SELECT 1 AS x -- ; ATTACH '/tmp/x.duckdb'",
      'SELECT 1 AS x /* /* */ ; PRAGMA version */',
      "SELECT 1 AS x; -- COPY public.people TO '/tmp/x'",
    ]) {
      const result = await engine.query('analyst', { kind: 'sql', sql: text });
      assert.deepEqual(result.rows, [[1]], text);
    }
    const strings = await engine.query('analyst', { kind: 'sql', sql: "SELECT '; DROP VIEW public.people; --' AS s" });
    assert.deepEqual(strings.rows, [['; DROP VIEW public.people; --']]);
  });

  it('a CTE may shadow a catalog name: the CTE is what is read', async () => {
    const result = await engine.query('analyst', {
      kind: 'sql',
      sql: 'WITH a AS (SELECT 42 AS x), duckdb_tables AS (SELECT * FROM a) SELECT * FROM duckdb_tables',
    });
    assert.deepEqual(result.rows, [[42]]);
  });
});
