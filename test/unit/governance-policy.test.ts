import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig, type PgCdcConfig } from '../../core/config/index.js';
import { diffIntent, registerLake, syncIntent, type LakeInventory } from '../../governance/intent.js';
import { openAccessPolicy } from '../../governance/policy.js';
import { assertPublishable, checkPublishable } from '../../governance/publishable.js';
import { Registry, registryPath } from '../../governance/registry.js';
import { parseResource as r } from '../../governance/resource.js';
import type { AccessDecision } from '../../governance/types.js';
import { tempDir } from '../support/temp.js';

const who = { actor: 'alice', reason: 'test' };

function setup(extraYaml = '') {
  const dir = tempDir('pg-cdc-gov-');
  const config = parseConfig(
    [
      `state_dir: ${dir}`,
      'source:',
      '  postgres:',
      '    url: postgresql://u@h/shop',
      'tables:',
      '  tags:',
      '    "public.*": { domain: sales }',
      '    "public.customers": { sensitivity: pii, domain: crm }',
      '    "public.orders": { sensitivity: internal }',
      'governance:',
      '  roles:',
      '    analyst: { grant: "sensitivity in [public, internal]" }',
      '    support: { grant: "domain = crm" }',
      '    nobody: { grant: "sensitivity = secret" }',
      extraYaml,
    ].join('\n'),
  );
  const clock = { now: new Date('2025-01-01T00:00:00.000Z') };
  const registry = Registry.forConfig(config, { now: () => clock.now });
  const inventory: LakeInventory = {
    database: 'shop',
    location: dir,
    tables: [
      { identifier: 'public.customers', schema: 'public', table: 'customers', columns: ['id', 'name', 'email'] },
      { identifier: 'public.orders', schema: 'public', table: 'orders', columns: ['id', 'customer_id', 'amount'] },
      { identifier: 'public.page_views', schema: 'public', table: 'page_views', columns: ['url'] },
    ],
  };
  return { config, registry, inventory, clock };
}

const lake = [
  { identifier: 'public.customers', columns: ['id', 'name', 'email'] },
  { identifier: 'public.customers__changes', columns: ['_op', '_seq', '_commit_lsn', 'id', 'name', 'email'] },
  { identifier: 'public.orders', columns: ['id', 'customer_id', 'amount'] },
  { identifier: 'public.orders__changes', columns: ['_op', '_seq', 'id', 'customer_id', 'amount'] },
  { identifier: 'public.page_views', columns: ['url'] },
];

const shown = (decision: AccessDecision): Record<string, string[]> =>
  Object.fromEntries([...decision.tables].map(([table, grant]) => [table, [...grant.columns]]));

describe('AccessPolicy.decide', () => {
  it('shows each role the tables and columns its grant admits, changelogs following their table', async () => {
    const { config, registry, inventory } = setup();
    await registerLake(registry, config, inventory, who);
    await registry.setTags(r('shop.public.orders.amount'), { set: { sensitivity: 'confidential' } }, who);
    const policy = openAccessPolicy(config, { registry });
    assert.deepEqual(shown(await policy.decide('analyst', lake)), {
      'public.orders': ['id', 'customer_id'],
      'public.orders__changes': ['_op', '_seq', 'id', 'customer_id'],
    });
    assert.deepEqual(shown(await policy.decide('support', lake)), {
      'public.customers': ['id', 'name', 'email'],
      'public.customers__changes': ['_op', '_seq', '_commit_lsn', 'id', 'name', 'email'],
    });
    assert.deepEqual(shown(await policy.decide('nobody', lake)), {});
    const decision = await policy.decide('analyst', lake);
    assert.equal(decision.policyVersion, await registry.policyVersion());
    assert.equal(decision.tables.get('public.orders')?.via, 'tags');
    await assert.rejects(policy.decide('intern', lake), (error: Error & { code?: string; hint?: string }) => {
      assert.equal(error.code, 'PRINCIPAL_UNKNOWN');
      assert.match(error.hint ?? '', /analyst, nobody, support/);
      return true;
    });
    await policy.close();
    await registry.close();
  });

  it('hides untagged resources from everyone, even from a grant that admits anything without a key', async () => {
    const { registry } = setup();
    const config = parseConfig(
      `state_dir: ${join(registry.location, '..')}\nsource:\n  postgres:\n    url: postgresql://u@h/shop\n` +
        'governance:\n  roles:\n    lax: { grant: "not has sensitivity" }\n',
    );
    await registry.register(r('shop.public.page_views'), {}, who);
    await registry.register(r('shop.public.orders'), { domain: 'sales' }, who);
    const policy = openAccessPolicy(config, { registry });
    assert.deepEqual(shown(await policy.decide('lax', lake)), {
      'public.orders': ['id', 'customer_id', 'amount'],
      'public.orders__changes': ['_op', '_seq', 'id', 'customer_id', 'amount'],
    });
    await registry.close();
  });

  it('sees a column tagged alone, and decides a changelog whose table is not in the request', async () => {
    const { config, registry } = setup();
    await registry.register(r('shop.public.page_views.url'), { sensitivity: 'public' }, who);
    const policy = openAccessPolicy(config, { registry, database: 'shop' });
    assert.deepEqual(shown(await policy.decide('analyst', lake)), {
      'public.page_views': ['url'],
    });
    const changesOnly = [{ identifier: 'public.page_views__changes', columns: ['_op', 'url', 'other'] }];
    assert.deepEqual(shown(await policy.decide('analyst', changesOnly)), {
      'public.page_views__changes': ['_op', 'url'],
    });
    await registry.close();
  });

  it('re-reads the registry only when policy_version moved, and sees a change at once', async () => {
    const { config, registry, inventory } = setup();
    await registerLake(registry, config, inventory, who);
    const policy = openAccessPolicy(config, { registry });
    const before = await policy.decide('analyst', lake);
    assert.equal(before.tables.has('public.page_views'), false);
    const version = await policy.policyVersion();
    await registry.setTags(r('shop.public.page_views'), { set: { sensitivity: 'public' } }, who);
    assert.equal(await policy.policyVersion(), version + 1);
    const after = await policy.decide('analyst', lake);
    assert.deepEqual(after.tables.get('public.page_views')?.columns, ['url']);
    await registry.close();
  });

  it('adds break-glass grants in force, marked with their expiry, and drops them at the expiry', async () => {
    const { config, registry, inventory, clock } = setup();
    await registerLake(registry, config, inventory, who);
    const policy = openAccessPolicy(config, { registry });
    const grant = (id: string, resource: string, ttlMs: number) =>
      registry.grants.grant(
        { id, workflowId: `breakglass:analyst:${resource}`, principal: 'analyst', resource, ttlMs },
        who,
      );
    await grant('g1', 'shop.public.customers.email', 10 * 60_000);
    await grant('g2', 'shop.public.orders', 20 * 60_000);
    const during = await policy.decide('analyst', lake);
    assert.deepEqual(shown(during)['public.customers'], ['email']);
    assert.deepEqual(shown(during)['public.customers__changes'], ['_op', '_seq', '_commit_lsn', 'email']);
    assert.equal(during.tables.get('public.customers')?.via, 'break-glass');
    assert.equal(during.tables.get('public.customers')?.expiresAt, '2025-01-01T00:10:00.000Z');
    // orders was visible by tags already; the grant adds nothing there (all its columns are admitted).
    assert.equal(during.tables.get('public.orders')?.via, 'tags');
    assert.equal((await policy.decide('support', lake)).tables.get('public.orders'), undefined, 'only its principal');

    const versionDuring = await policy.policyVersion();
    clock.now = new Date('2025-01-01T00:10:00.000Z');
    assert.equal(await policy.policyVersion(), versionDuring + 1, 'the lapsed grant moves the version');
    const after = await policy.decide('analyst', lake);
    assert.equal(after.tables.has('public.customers'), false);
    assert.equal((await registry.grants.get('g1'))?.endReason, 'ttl reached before a worker ended it');
    await registry.close();
  });

  it('decides nothing visible before anything is registered', async () => {
    const { config, registry } = setup();
    const policy = openAccessPolicy(config, { registry });
    assert.deepEqual(shown(await policy.decide('analyst', lake)), {});
    await registry.close();
  });

  it('refuses to open with an invalid role grant, naming the role', () => {
    const config = parseConfig(
      'source:\n  postgres:\n    url: postgresql://u@h/shop\ngovernance:\n  roles:\n    broken: { grant: "a in b" }\n',
    );
    assert.throws(() => openAccessPolicy(config), /role "broken".*position 6/);
  });
});

describe('intent: diff and sync against pg-cdc.yml and the lake', () => {
  it('finds unregistered resources and drifted keys, heals them, and leaves registry-only keys alone', async () => {
    const { config, registry, inventory } = setup();
    const first = await diffIntent(registry, config, inventory);
    assert.equal(first.drift.length, 1 + 3 + 7, 'the database, 3 tables, 7 columns');
    assert.ok(first.drift.every((d) => d.kind === 'unregistered'));
    assert.equal((await syncIntent(registry, config, inventory, who)).length, 11);
    assert.deepEqual((await diffIntent(registry, config, inventory)).drift, []);
    assert.deepEqual((await registry.get(r('shop.public.customers')))?.tags, { domain: 'crm', sensitivity: 'pii' });

    await registry.setTags(r('shop.public.customers'), { set: { sensitivity: 'internal', owner: 'crm-team' } }, who);
    await registry.setTags(r('shop.public.customers.email'), { set: { sensitivity: 'pii' } }, who);
    const drift = await diffIntent(registry, config, inventory);
    assert.deepEqual(
      drift.drift.map((d) => [d.resource, d.kind, d.keys]),
      [['shop.public.customers', 'tags', ['sensitivity']]],
    );
    const healed = await syncIntent(registry, config, inventory, { actor: 'ci', reason: 'acl sync' });
    assert.equal(healed.length, 1);
    assert.deepEqual((await registry.get(r('shop.public.customers')))?.tags, {
      domain: 'crm',
      owner: 'crm-team',
      sensitivity: 'pii',
    });
    assert.equal((await registry.audit({ resource: r('shop.public.customers') })).at(-1)?.action, 'sync');
    assert.deepEqual(await syncIntent(registry, config, inventory, who), []);
    await registry.close();
  });

  it('reports registered resources the lake no longer has as stale, without touching them', async () => {
    const { config, registry, inventory } = setup();
    await syncIntent(registry, config, inventory, who);
    const smaller = { ...inventory, tables: inventory.tables.slice(0, 2) };
    const report = await diffIntent(registry, config, smaller);
    assert.deepEqual(report.drift, []);
    assert.deepEqual(report.stale, ['shop.public.page_views', 'shop.public.page_views.url']);
    await registry.close();
  });

  it('registers only resources of the lake, saying what is there instead', async () => {
    const { config, registry, inventory } = setup();
    await assert.rejects(registerLake(registry, config, inventory, who, [r('shop.public.order')]), {
      code: 'RESOURCE_NOT_IN_LAKE',
      hint: /did you mean "public.orders"\?/,
    });
    await assert.rejects(registerLake(registry, config, inventory, who, [r('other.public.orders')]), {
      code: 'RESOURCE_NOT_IN_LAKE',
    });
    const done = await registerLake(registry, config, inventory, who, [r('shop.public.orders')]);
    assert.deepEqual(done.created, ['shop.public.orders']);
    await registry.close();
  });
});

describe('checkPublishable (governance.mode: strict)', () => {
  const strict = (requireTags: string): PgCdcConfig => setup(`  mode: strict\n  require_tags: ${requireTags}`).config;

  it('lists the untagged tables with the fix, and refuses them in strict mode only', async () => {
    const config = strict('[sensitivity]');
    const registry = Registry.forConfig(config);
    await registry.register(r('shop.public.page_views'), {}, who);
    await registry.close();
    const check = await checkPublishable(
      config,
      ['public.orders', 'public.page_views', { schema: 'public', name: 'x' }],
      {
        database: 'shop',
      },
    );
    assert.equal(check.ok, false);
    assert.deepEqual(
      check.untagged.map((t) => [t.table, t.missing]),
      [
        ['public.page_views', ['sensitivity']],
        ['public.x', ['sensitivity']],
      ],
    );
    assert.match(check.untagged[0]!.fix, /tables\.tags: \{ "public\.page_views": \{ sensitivity: <value> \} \}/);
    assert.match(check.untagged[0]!.fix, /pg-cdc acl set shop\.public\.page_views --tag sensitivity=<value>/);
    assert.doesNotMatch(check.untagged[1]!.fix, /acl set/, 'a table the registry does not have is tagged in the file');
    await assert.rejects(assertPublishable(config, ['public.page_views']), { code: 'UNTAGGED_TABLES' });

    const permissive = setup().config;
    const lenient = await checkPublishable(permissive, ['public.page_views', 'other.t']);
    assert.equal(lenient.ok, true);
    assert.deepEqual(
      lenient.untagged.map((t) => t.table),
      ['other.t'],
      'public.page_views has domain=sales from "public.*"',
    );
  });

  it('counts tags from the registry (the database level included)', async () => {
    const config = strict('[sensitivity]');
    const registry = Registry.forConfig(config);
    await registry.register(r('shop'), { sensitivity: 'internal' }, who);
    await registry.close();
    assert.ok(registryPath(config).endsWith('governance.sqlite'));
    assert.equal((await checkPublishable(config, ['public.page_views'], { database: 'shop' })).ok, true);
    assert.equal(
      (await checkPublishable(config, ['public.page_views'])).ok,
      false,
      'no database: only pg-cdc.yml counts',
    );
  });
});
