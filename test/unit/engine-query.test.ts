/**
 * What the governed engine serves, over a real lake: live rows with position deletes applied, refs and snapshots,
 * typed empty tables, both query forms agreeing, the changelog, the row cap and the timeout.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { QueryEngine, QueryResult, ReadAt, SqlQuery, StructuredQuery } from '../../engine/index.js';
import { buildLake, engineFor, GRANTS, TestPolicy, type FixtureLake } from './engine-fixture.js';

const ids = (result: QueryResult): unknown[] => result.rows.map((row) => row[0]);

describe('governed engine: reading', () => {
  let lake: FixtureLake;
  let engine: QueryEngine;
  const run = (query: StructuredQuery | SqlQuery, at?: ReadAt, principal = 'analyst') =>
    engine.query(principal, query, at);

  before(async () => {
    lake = await buildLake();
    engine = engineFor(lake, new TestPolicy(GRANTS), { row_limit: 50 });
  });
  after(async () => {
    await engine.close();
    lake.cleanup();
  });

  it('applies position deletes: rows 2 and 7 are gone now, and back at the ref before the deletes', async () => {
    const now = await run({ kind: 'structured', table: 'public.people', columns: ['id'] });
    assert.deepEqual(ids(now), [1, 3, 4, 5, 6, 8]);
    assert.deepEqual(now.snapshots, { 'public.people': lake.people.afterDeletes });
    const tagged = await run(
      { kind: 'structured', table: 'public.people', columns: ['id'] },
      { ref: 'before-deletes' },
    );
    assert.deepEqual(ids(tagged), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(tagged.snapshots, { 'public.people': lake.people.second });
    const first = await run(
      { kind: 'sql', sql: 'SELECT id FROM public.people ORDER BY id' },
      { snapshotId: lake.people.first },
    );
    assert.deepEqual(ids(first), [1, 2, 3, 4, 5]);
    const byRefText = await run(
      { kind: 'structured', table: 'public.people', columns: ['id'] },
      { ref: lake.people.first },
    );
    assert.deepEqual(ids(byRefText), [1, 2, 3, 4, 5], 'a snapshot id given as the ref');
    const main = await run({ kind: 'structured', table: 'public.people', columns: ['id'] }, { ref: 'main' });
    assert.deepEqual(ids(main), ids(now));
  });

  it('refuses a snapshot the table no longer has (expired), naming the oldest readable one', async () => {
    for (const at of [{ snapshotId: '42' }, { ref: '42' }]) {
      await assert.rejects(
        run({ kind: 'structured', table: 'public.people', columns: ['id'] }, at),
        (error: unknown) => {
          const e = error as { code?: string; hint?: string };
          assert.equal(e.code, 'SNAPSHOT_NOT_FOUND');
          assert.match(e.hint ?? '', new RegExp(`oldest readable snapshot is ${lake.people.first} of \\d{4}-`));
          return true;
        },
      );
    }
  });

  it('returns JSON-safe values with DuckDB types, visible columns only, in table order', async () => {
    const result = await run({ kind: 'structured', table: 'public.people', where: ['id:eq:1'] });
    assert.deepEqual(result.columns, [
      { name: 'id', type: 'BIGINT' },
      { name: 'name', type: 'VARCHAR' },
      { name: 'salary', type: 'DECIMAL(12,2)' },
      { name: 'born', type: 'DATE' },
      { name: 'photo', type: 'BLOB' },
      { name: 'nick:name', type: 'VARCHAR' },
    ]);
    assert.deepEqual(result.rows, [[1, 'person 1', '1000.50', '2000-01-02', 'AP8=', 'n1']]);
    assert.equal(result.rowCount, 1);
    assert.equal(result.truncated, false);
    assert.ok(result.elapsedMs >= 0);
  });

  it('gives the same rows for a structured query and the equivalent SQL', async () => {
    const pairs: [StructuredQuery, string][] = [
      [{ kind: 'structured', table: 'public.people' }, 'SELECT * FROM "public"."people" ORDER BY id'],
      [
        { kind: 'structured', table: 'public.orders', columns: ['id', 'amount'], where: ['status:eq:shipped'] },
        "SELECT id, amount FROM public.orders WHERE status = 'shipped' ORDER BY id",
      ],
      [
        { kind: 'structured', table: 'public.people', columns: ['name'], where: ['salary:gte:4000', 'name:like:%5'] },
        "SELECT name FROM public.people WHERE salary >= 4000 AND name LIKE '%5' ORDER BY id",
      ],
      [
        { kind: 'structured', table: 'public.people', columns: ['id', 'nick:name'], where: ['nick:name:ilike:N8'] },
        `SELECT id, "nick:name" FROM public.people WHERE "nick:name" ILIKE 'N8'`,
      ],
      [
        {
          kind: 'structured',
          table: 'public.orders',
          filters: [{ column: 'person_id', op: 'ne', value: '3' }],
          limit: 1,
        },
        'SELECT * FROM public.orders WHERE person_id <> 3 ORDER BY id LIMIT 1',
      ],
    ];
    for (const [structured, text] of pairs) {
      const a = await run(structured);
      const b = await run({ kind: 'sql', sql: text });
      assert.deepEqual(a.columns, b.columns, text);
      assert.deepEqual(a.rows, b.rows, text);
      assert.ok(a.rows.length > 0, text);
    }
  });

  it('joins visible tables in SQL and reports the snapshot of each', async () => {
    const result = await run({
      kind: 'sql',
      sql: `SELECT p.name, sum(o.amount) AS total FROM public.people p JOIN public.orders o ON o.person_id = p.id
            GROUP BY p.name ORDER BY total DESC`,
    });
    assert.deepEqual(result.rows, [
      ['person 8', '1000.00'],
      ['person 3', '104.99'],
      ['person 1', '10.50'],
    ]);
    assert.deepEqual(Object.keys(result.snapshots).sort(), ['public.orders', 'public.people']);
  });

  it('gives an empty table typed, empty views with its visible columns', async () => {
    const structured = await run({ kind: 'structured', table: 'public.empty' });
    assert.deepEqual(structured.columns, [
      { name: 'id', type: 'BIGINT' },
      { name: 'at', type: 'TIMESTAMP WITH TIME ZONE' },
    ]);
    assert.deepEqual(structured.rows, []);
    assert.deepEqual(structured.snapshots, {});
    const counted = await run({
      kind: 'sql',
      sql: 'SELECT count(*) AS n, max("at") AS last FROM public.empty WHERE id > 0',
    });
    assert.deepEqual(counted.rows, [[0, null]]);
    const main = await run({ kind: 'structured', table: 'public.empty' }, { ref: 'main' });
    assert.deepEqual(main.rows, []);
  });

  it('caps rows: truncated when more matched, and a limit above the cap is refused', async () => {
    const capped = engineFor(lake, new TestPolicy(GRANTS), { row_limit: 4 });
    try {
      const sql = await capped.query('analyst', { kind: 'sql', sql: 'SELECT id FROM public.people ORDER BY id' });
      assert.deepEqual(ids(sql), [1, 3, 4, 5]);
      assert.equal(sql.truncated, true);
      const limited = await capped.query('analyst', { kind: 'structured', table: 'public.people', limit: 2 });
      assert.equal(limited.rowCount, 2);
      assert.equal(limited.truncated, true);
      const exact = await capped.query('analyst', { kind: 'structured', table: 'public.orders' });
      assert.equal(exact.rowCount, 4);
      assert.equal(exact.truncated, false);
      await assert.rejects(capped.query('analyst', { kind: 'structured', table: 'public.people', limit: 5 }), {
        code: 'QUERY_INVALID',
        message: 'limit 5 is above the row limit of 4',
      });
    } finally {
      await capped.close();
    }
  });

  it('stops a query at the timeout', async () => {
    const quick = engineFor(lake, new TestPolicy(GRANTS), { timeout_ms: 200 });
    try {
      const joins = Array.from({ length: 12 }, (_, i) => `public.people p${i}`).join(', ');
      const started = Date.now();
      await assert.rejects(quick.query('analyst', { kind: 'sql', sql: `SELECT count(*) FROM ${joins}` }), {
        code: 'QUERY_TIMEOUT',
        message: 'the query ran longer than 200 ms and was stopped',
      });
      assert.ok(Date.now() - started < 5000, 'interrupted, not run to the end');
      const after = await quick.query('analyst', { kind: 'sql', sql: 'SELECT count(*) FROM public.people' });
      assert.deepEqual(after.rows, [[6]], 'the next query runs normally');
    } finally {
      await quick.close();
    }
  });

  it('reads the changelog since an epoch or an LSN, in commit order', async () => {
    const all = await engine.changes('analyst', { table: 'public.people', sinceEpoch: 0 });
    assert.deepEqual(
      all.columns.map((c) => c.name),
      ['_op', '_commit_lsn', '_commit_ts', '_xid', '_seq', 'id', 'name'],
    );
    assert.deepEqual(
      all.rows.map((r) => [r[0], r[1], r[4], r[5]]),
      [
        ['I', 0x150, 0, 6],
        ['I', 0x150, 1, 7],
        ['I', 0x180, 0, 8],
        ['D', 0x250, 0, 2],
        ['D', 0x290, 0, 7],
      ],
    );
    const sinceOne = await engine.changes('analyst', {
      table: 'public.people__changes',
      sinceEpoch: 1,
      columns: ['id'],
    });
    assert.deepEqual(ids(sinceOne), [2, 7]);
    const byLsn = await engine.changes('analyst', {
      table: 'public.people',
      sinceLsn: '0/150',
      columns: ['_op', 'id'],
    });
    assert.deepEqual(byLsn.rows, [
      ['I', 8],
      ['D', 2],
      ['D', 7],
    ]);
    const future = await engine.changes('analyst', { table: 'public.people', sinceEpoch: 9 });
    assert.deepEqual(future.rows, []);
    assert.equal(future.columns.length, 7);
    const admin = await engine.changes('admin', { table: 'public.people', sinceEpoch: 2 });
    assert.deepEqual(
      admin.columns.map((c) => c.name),
      ['_op', '_commit_lsn', '_commit_ts', '_xid', '_seq', '_unchanged_toast', 'id', 'name', 'email'],
      'who sees every column also sees the unchanged list; _old_email stays hidden from everyone',
    );
  });

  it('refuses bad changelog requests with the engine codes', async () => {
    const cases: [Parameters<QueryEngine['changes']>[1], string, RegExp][] = [
      [{ table: 'public.people' }, 'QUERY_INVALID', /exactly one of sinceEpoch and sinceLsn/],
      [{ table: 'public.people', sinceEpoch: 1, sinceLsn: '0/1' }, 'QUERY_INVALID', /exactly one/],
      [{ table: 'public.people', sinceEpoch: -1 }, 'QUERY_INVALID', /not a non-negative integer/],
      [{ table: 'public.people', sinceLsn: '16B3748' }, 'QUERY_INVALID', /is not an LSN/],
      [{ table: 'public.orders', sinceEpoch: 0 }, 'NOT_AVAILABLE', /public\.orders has no changelog yet/],
      [{ table: 'secret.keys', sinceEpoch: 0 }, 'TABLE_NOT_FOUND', /"secret\.keys" is not in the lake/],
      [{ table: 'public.people', sinceEpoch: 0, limit: 51 }, 'QUERY_INVALID', /above the row limit of 50/],
      [{ table: 'public.people', sinceEpoch: 0, columns: ['email'] }, 'COLUMN_NOT_FOUND', /"email"/],
    ];
    for (const [request, code, message] of cases) {
      await assert.rejects(engine.changes('analyst', request), { code, message }, JSON.stringify(request));
    }
    await assert.rejects(engine.changes('clerk', { table: 'public.people', sinceEpoch: 0 }), {
      code: 'TABLE_NOT_FOUND',
    });
  });

  it("answers a principal with no role with governance's PRINCIPAL_UNKNOWN", async () => {
    for (const call of [
      () => engine.listTables('nobody'),
      () => engine.describeTable('nobody', 'public.orders'),
      () => engine.query('nobody', { kind: 'structured', table: 'public.orders' }),
      () => engine.changes('nobody', { table: 'public.people', sinceEpoch: 0 }),
    ]) {
      await assert.rejects(call(), { code: 'PRINCIPAL_UNKNOWN' });
    }
  });
});
