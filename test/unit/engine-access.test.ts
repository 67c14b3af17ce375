/**
 * What a principal sees is what its decision lists: hidden columns never show in rows, descriptions or errors,
 * hidden tables answer exactly like missing ones, and a new policy version takes effect at the next call.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isPgCdcError } from '../../core/errors/index.js';
import type { QueryEngine } from '../../engine/index.js';
import { buildLake, engineFor, GRANTS, TestPolicy, type FixtureLake } from './engine-fixture.js';

async function errorOf(promise: Promise<unknown>): Promise<{ code: string; text: string }> {
  const error = await promise.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  assert.ok(isPgCdcError(error));
  return { code: error.code, text: `${error.message} ${error.hint ?? ''} ${JSON.stringify(error.context)}` };
}

describe('governed engine: access', () => {
  let lake: FixtureLake;
  let policy: TestPolicy;
  let engine: QueryEngine;

  before(async () => {
    lake = await buildLake();
  });
  after(() => lake.cleanup());

  const fresh = async () => {
    await engine?.close();
    policy = new TestPolicy(structuredClone(GRANTS));
    engine = engineFor(lake, policy);
  };

  it('lists per role only the tables it may read, changelogs following their table', async () => {
    await fresh();
    const tables = async (principal: string) =>
      (await engine.listTables(principal)).map((t) => [t.table, t.kind, t.columns]);
    assert.deepEqual(await tables('admin'), [
      ['public.empty', 'state', 3],
      ['public.orders', 'state', 4],
      ['public.people', 'state', 7],
      ['public.people__changes', 'changes', 9],
      ['secret.keys', 'state', 2],
    ]);
    assert.deepEqual(await tables('analyst'), [
      ['public.empty', 'state', 2],
      ['public.orders', 'state', 4],
      ['public.people', 'state', 6],
      ['public.people__changes', 'changes', 7],
    ]);
    assert.deepEqual(await tables('clerk'), [['public.orders', 'state', 3]]);
    const [people] = (await engine.listTables('analyst')).filter((t) => t.table === 'public.people');
    assert.deepEqual(
      { rows: people?.rowCount, lsn: people?.committedLsn, epoch: people?.epoch, snapshot: people?.snapshotId },
      { rows: 6, lsn: '0/300', epoch: 2, snapshot: lake.people.afterDeletes },
    );
  });

  it('never shows a column without its grant: not in rows, describe, SELECT * or errors', async () => {
    await fresh();
    const star = await engine.query('analyst', { kind: 'sql', sql: 'SELECT * FROM public.people ORDER BY id' });
    assert.deepEqual(
      star.columns.map((c) => c.name),
      ['id', 'name', 'salary', 'born', 'photo', 'nick:name'],
    );
    assert.ok(!JSON.stringify(star.rows).includes('@example.com'));
    const wide = await engine.query('analyst', {
      kind: 'sql',
      sql: 'SELECT p.*, o.* FROM public.people p LEFT JOIN public.orders o ON o.person_id = p.id',
    });
    assert.ok(!wide.columns.some((c) => c.name === 'email'));
    assert.ok(!JSON.stringify(wide.rows).includes('@example.com'));

    const described = await engine.describeTable('analyst', 'public.people');
    assert.deepEqual(
      described.columnsDetail.map((c) => [c.name, c.type, c.fieldId]),
      [
        ['id', 'BIGINT', 1],
        ['name', 'VARCHAR', 2],
        ['salary', 'DECIMAL(12,2)', 4],
        ['born', 'DATE', 5],
        ['photo', 'BLOB', 6],
        ['nick:name', 'VARCHAR', 7],
      ],
    );
    assert.deepEqual(described.primaryKey, ['id']);
    assert.equal(described.columns, 6);
    assert.ok(!JSON.stringify(described).includes('email'));

    // A typo next to the hidden name does not suggest it, and the hint lists only visible columns.
    for (const attempt of [
      () => engine.query('analyst', { kind: 'structured', table: 'public.people', columns: ['emial'] }),
      () => engine.query('analyst', { kind: 'structured', table: 'public.people', where: ['emai:eq:x'] }),
      () => engine.query('analyst', { kind: 'sql', sql: 'SELECT emial FROM public.people' }),
      () => engine.changes('analyst', { table: 'public.people', sinceEpoch: 0, columns: ['emial'] }),
    ]) {
      const { text } = await errorOf(attempt());
      assert.ok(!text.includes('email'), text);
    }
    // The hidden name itself gets the very same answer as a name that does not exist.
    const hidden = await errorOf(engine.query('analyst', { kind: 'sql', sql: 'SELECT email FROM public.people' }));
    const missing = await errorOf(engine.query('analyst', { kind: 'sql', sql: 'SELECT shoe_size FROM public.people' }));
    assert.equal(hidden.text.replaceAll('email', 'X'), missing.text.replaceAll('shoe_size', 'X'));
  });

  it('answers a hidden table exactly like a missing one, everywhere', async () => {
    await fresh();
    const hidden = await errorOf(engine.describeTable('clerk', 'public.people'));
    const missing = await errorOf(engine.describeTable('clerk', 'public.peoplx'));
    assert.equal(hidden.code, 'TABLE_NOT_FOUND');
    assert.equal(hidden.text.replaceAll('people', 'X'), missing.text.replaceAll('peoplx', 'X'));
    for (const attempt of [
      () => engine.query('clerk', { kind: 'structured', table: 'public.people' }),
      () => engine.query('clerk', { kind: 'sql', sql: 'SELECT count(*) FROM public.people' }),
      () => engine.describeTable('clerk', 'public.people__changes'),
    ]) {
      const { code, text } = await errorOf(attempt());
      assert.equal(code, 'TABLE_NOT_FOUND');
      assert.ok(!text.includes('person_id') && !text.includes('secret'), text);
    }
  });

  it('reuses a decision while the policy version stands, and re-decides at the next call when it moves', async () => {
    await fresh();
    const columns = async () => (await engine.describeTable('clerk', 'public.orders')).columnsDetail.map((c) => c.name);
    assert.deepEqual(await columns(), ['id', 'amount', 'status']);
    await engine.listTables('clerk');
    await engine.query('clerk', { kind: 'structured', table: 'public.orders' });
    assert.equal(policy.decisions, 1, 'one decision for three calls');

    // Granting more without a new version is not seen (the registry always bumps the version when it changes).
    policy.grants.clerk = { 'public.orders': '*', 'public.people': ['id', 'name'] };
    assert.deepEqual(await columns(), ['id', 'amount', 'status']);
    policy.version = 2;
    assert.deepEqual(await columns(), ['id', 'person_id', 'amount', 'status']);
    const people = await engine.query('clerk', { kind: 'sql', sql: 'SELECT * FROM public.people ORDER BY id LIMIT 1' });
    assert.deepEqual(people.rows, [[1, 'person 1']]);
    assert.equal(policy.decisions, 2);

    // Taking a grant away is honoured just as fast.
    policy.grants.clerk = { 'public.orders': ['id'] };
    policy.version = 3;
    assert.deepEqual(await columns(), ['id']);
    const gone = await errorOf(engine.query('clerk', { kind: 'sql', sql: 'SELECT * FROM public.people' }));
    assert.equal(gone.code, 'TABLE_NOT_FOUND');
    const amount = await errorOf(
      engine.query('clerk', { kind: 'structured', table: 'public.orders', columns: ['amount'] }),
    );
    assert.equal(amount.code, 'COLUMN_NOT_FOUND');
    await engine.close();
  });

  it('re-decides when the decision grows old even if the version stands', async () => {
    policy = new TestPolicy(structuredClone(GRANTS));
    const short = engineFor(lake, policy, {}, { decisionTtlMs: 50 });
    try {
      await short.listTables('clerk');
      await short.listTables('clerk');
      assert.equal(policy.decisions, 1);
      await sleep(60);
      await short.listTables('clerk');
      assert.equal(policy.decisions, 2);
    } finally {
      await short.close();
    }
  });
});
