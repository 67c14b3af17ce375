/**
 * The engine over governance's own policy (a local SQLite registry, tag grants from pg-cdc.yml): a column tagged
 * away disappears from rows, descriptions and the changelog, and a classification change reaches the very next
 * request of an engine that keeps running.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../core/config/index.js';
import { silentLogger } from '../../core/log/index.js';
import { createQueryEngine, type QueryEngine } from '../../engine/index.js';
import { openAccessPolicy, parseResource, registerLake, Registry, type LakeInventory } from '../../governance/index.js';
import { buildLake, type FixtureLake } from './engine-fixture.js';

const who = { actor: 'test', reason: 'engine test' };

describe('governed engine over the local governance registry', () => {
  let lake: FixtureLake;
  let registry: Registry;
  let engine: QueryEngine;
  let closePolicy: () => Promise<void>;

  before(async () => {
    lake = await buildLake();
    const config = parseConfig(
      [
        `state_dir: ${join(lake.root, 'state')}`,
        'source: { postgres: { url: "postgresql://u@localhost/shop" } }',
        `storage: { path: ${join(lake.root, 'lake')} }`,
        'tables:',
        '  tags:',
        '    "public.*": { sensitivity: internal }',
        '    "secret.*": { sensitivity: restricted }',
        'governance:',
        '  roles:',
        '    analyst: { grant: "sensitivity = internal" }',
        '    auditor: { grant: "sensitivity in [internal, pii, restricted]" }',
      ].join('\n'),
    );
    registry = Registry.forConfig(config);
    const columns = (schema: string, table: string, names: string[]) => ({
      identifier: `${schema}.${table}`,
      schema,
      table,
      columns: names,
    });
    const inventory: LakeInventory = {
      database: 'shop',
      location: join(lake.root, 'lake'),
      tables: [
        columns('public', 'people', ['id', 'name', 'email', 'salary', 'born', 'photo', 'nick:name']),
        columns('public', 'orders', ['id', 'person_id', 'amount', 'status']),
        columns('public', 'empty', ['id', 'at', 'secret_note']),
        columns('secret', 'keys', ['id', 'api_key']),
      ],
    };
    await registerLake(registry, config, inventory, who);
    await registry.setTags(parseResource('shop.public.people.email'), { set: { sensitivity: 'pii' } }, who);
    const policy = openAccessPolicy(config, { registry });
    closePolicy = () => policy.close();
    engine = createQueryEngine({ config, policy, log: silentLogger, threads: 1, memoryLimit: '256MB' });
  });
  after(async () => {
    await engine.close();
    await closePolicy();
    await registry.close();
    lake.cleanup();
  });

  it('shows each role the columns its grant admits', async () => {
    const analyst = await engine.describeTable('analyst', 'public.people');
    assert.deepEqual(
      analyst.columnsDetail.map((c) => c.name),
      ['id', 'name', 'salary', 'born', 'photo', 'nick:name'],
    );
    const auditor = await engine.describeTable('auditor', 'public.people');
    assert.ok(auditor.columnsDetail.some((c) => c.name === 'email'));
    assert.deepEqual(
      (await engine.listTables('analyst')).map((t) => t.table),
      ['public.empty', 'public.orders', 'public.people', 'public.people__changes'],
    );
    const changes = await engine.changes('analyst', { table: 'public.people', sinceEpoch: 0 });
    assert.deepEqual(
      changes.columns.map((c) => c.name),
      ['_op', '_commit_lsn', '_commit_ts', '_xid', '_seq', 'id', 'name'],
    );
    await assert.rejects(engine.query('analyst', { kind: 'sql', sql: 'SELECT * FROM secret.keys' }), {
      code: 'TABLE_NOT_FOUND',
    });
    await assert.rejects(engine.query('nobody', { kind: 'structured', table: 'public.orders' }), {
      code: 'PRINCIPAL_UNKNOWN',
    });
  });

  it('takes a reclassification at the next request, without a restart', async () => {
    const orders = () =>
      engine.query('analyst', { kind: 'sql', sql: 'SELECT * FROM public.orders ORDER BY id LIMIT 1' });
    assert.deepEqual(
      (await orders()).columns.map((c) => c.name),
      ['id', 'person_id', 'amount', 'status'],
    );
    await registry.setTags(parseResource('shop.public.orders.amount'), { set: { sensitivity: 'pii' } }, who);
    assert.deepEqual(
      (await orders()).columns.map((c) => c.name),
      ['id', 'person_id', 'status'],
    );
    await assert.rejects(
      engine.query('analyst', { kind: 'structured', table: 'public.orders', where: ['amount:gt:1'] }),
      { code: 'COLUMN_NOT_FOUND' },
    );
    await registry.setTags(parseResource('shop.public.orders.amount'), { unset: ['sensitivity'] }, who);
    assert.deepEqual(
      (await orders()).columns.map((c) => c.name),
      ['id', 'person_id', 'amount', 'status'],
    );
    await registry.setTags(parseResource('shop.public.orders'), { set: { sensitivity: 'restricted' } }, who);
    await assert.rejects(orders(), { code: 'TABLE_NOT_FOUND' });
  });
});
