/**
 * The registry contract, one suite for every backend: `registryContract('sqlite', factory)` in the unit tests,
 * `registryContract('dynamodb', factory)` against moto in the integration tests. A factory makes a fresh, empty
 * store and opens connections to it (two connections of one store are two processes sharing the registry).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Registry, RegistryOptions } from '../../governance/registry.js';
import { parseResource } from '../../governance/resource.js';

export interface RegistryStore {
  /** A new connection to the same store. */
  open(options?: RegistryOptions): Registry;
}

export type RegistryFactory = () => Promise<RegistryStore> | RegistryStore;

const who = { actor: 'alice', reason: 'classification review' };
const r = parseResource;

/** A clock the test moves. */
function clock(start = '2025-01-01T00:00:00.000Z') {
  const state = { now: new Date(start) };
  return {
    now: () => state.now,
    advance: (ms: number): void => void (state.now = new Date(state.now.getTime() + ms)),
  };
}

export function registryContract(backend: string, factory: RegistryFactory, options: { skip?: string } = {}): void {
  const test = (name: string, body: () => Promise<void>): void => {
    it(name, options.skip === undefined ? {} : { skip: options.skip }, body);
  };

  describe(`the registry contract (${backend})`, () => {
    test('registers at version 0, idempotently, and audits the registration', async () => {
      const registry = (await factory()).open();
      const first = await registry.register(r('shop.public.orders'), { domain: 'sales' }, who);
      assert.equal(first.created, true);
      assert.equal(first.record.version, 0);
      assert.deepEqual(first.record.tags, { domain: 'sales' });
      const again = await registry.register(r('shop.public.orders'), { domain: 'other' }, who);
      assert.equal(again.created, false);
      assert.deepEqual(again.record.tags, { domain: 'sales' });
      const audit = await registry.audit();
      assert.equal(audit.length, 1);
      assert.equal(audit[0]!.action, 'register');
      assert.deepEqual(audit[0]!.after, { tags: { domain: 'sales' } });
      await registry.close();
    });

    test('bumps the version and policy_version on every change, auditing who, when, why, before, after', async () => {
      const time = clock();
      const registry = (await factory()).open({ now: time.now });
      const orders = r('shop.public.orders');
      await registry.register(orders, {}, who);
      assert.equal(await registry.policyVersion(), 1);
      time.advance(1000);
      const set = await registry.setTags(orders, { set: { sensitivity: 'internal', domain: 'sales' } }, who);
      assert.equal(set.changed, true);
      assert.equal(set.record.version, 1);
      assert.equal(await registry.policyVersion(), 2);
      const same = await registry.setTags(orders, { set: { sensitivity: 'internal' } }, who);
      assert.equal(same.changed, false, 'setting what is there changes nothing');
      assert.equal(await registry.policyVersion(), 2);
      time.advance(1000);
      const bob = { actor: 'bob', reason: 'holds emails' };
      const unset = await registry.setTags(orders, { set: { sensitivity: 'pii' }, unset: ['domain'] }, bob);
      assert.equal(unset.record.version, 2);
      assert.deepEqual(unset.record.tags, { sensitivity: 'pii' });
      assert.deepEqual((await registry.get(orders))?.tags, { sensitivity: 'pii' });
      const last = (await registry.audit({ resource: orders })).at(-1)!;
      assert.equal(last.actor, 'bob');
      assert.equal(last.reason, 'holds emails');
      assert.equal(last.at, '2025-01-01T00:00:02.000Z');
      assert.deepEqual(last.before, { tags: { domain: 'sales', sensitivity: 'internal' } });
      assert.deepEqual(last.after, { tags: { sensitivity: 'pii' } });
      assert.equal(last.version, 2);
      assert.equal(last.policyVersion, 3);
      await assert.rejects(registry.setTags(r('shop.public.nope'), { set: { a: 'b' } }, who), {
        code: 'RESOURCE_NOT_REGISTERED',
      });
      await registry.close();
    });

    test('resolves effective tags column over table over database, registered or not', async () => {
      const registry = (await factory()).open();
      await registry.register(r('shop'), { owner: 'data-team', sensitivity: 'internal' }, who);
      await registry.register(r('shop.public.customers'), { domain: 'crm' }, who);
      await registry.register(r('shop.public.customers.email'), { sensitivity: 'pii' }, who);
      assert.deepEqual(await registry.effectiveTags(r('shop.public.customers.email')), {
        tags: { domain: 'crm', owner: 'data-team', sensitivity: 'pii' },
        from: { owner: 'shop', sensitivity: 'shop.public.customers.email', domain: 'shop.public.customers' },
      });
      assert.deepEqual((await registry.effectiveTags(r('shop.public.customers.id'))).tags, {
        domain: 'crm',
        owner: 'data-team',
        sensitivity: 'internal',
      });
      assert.deepEqual((await registry.effectiveTags(r('other.public.customers'))).tags, {});
      assert.equal(await registry.database(), 'shop');
      assert.deepEqual(
        (await registry.list('shop')).map((record) => record.text),
        ['shop', 'shop.public.customers', 'shop.public.customers.email'],
        'db → table → column order',
      );
      assert.deepEqual([...(await registry.ownTags('shop')).keys()].sort(), [
        'shop',
        'shop.public.customers',
        'shop.public.customers.email',
      ]);
      await registry.register(r('"my.db".public."a.b".c'), { k: 'v' }, who);
      assert.deepEqual((await registry.get(r('"my.db".public."a.b".c')))?.tags, { k: 'v' }, 'quoted names');
      assert.equal((await registry.list()).length, 4);
      await registry.close();
    });

    test('shares one store between connections: a change made by one is read by the other at once', async () => {
      const store = await factory();
      const registry = store.open();
      const other = store.open();
      await registry.register(r('shop.public.orders'), { a: 'b' }, who);
      assert.equal(await other.policyVersion(), 1);
      await other.setTags(r('shop.public.orders'), { set: { a: 'c' } }, who);
      assert.deepEqual((await registry.get(r('shop.public.orders')))?.tags, { a: 'c' });
      assert.equal(await registry.policyVersion(), 2);
      await other.close();
      await registry.close();
    });

    test('concurrent acl set calls from separate connections never lose a version', async () => {
      const store = await factory();
      const writers = Array.from({ length: 6 }, () => store.open());
      const orders = r('shop.public.orders');
      await writers[0]!.register(orders, {}, who);
      await Promise.all(
        writers.map((writer, i) =>
          writer.setTags(orders, { set: { [`k${i}`]: 'v' } }, { actor: `w${i}`, reason: 'race' }),
        ),
      );
      const record = (await writers[0]!.get(orders))!;
      assert.equal(record.version, writers.length, 'one version per change');
      assert.deepEqual(Object.keys(record.tags).sort(), ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'], 'no edit lost');
      const audit = await writers[0]!.audit({ resource: orders });
      assert.deepEqual(
        audit.map((entry) => entry.version),
        [0, 1, 2, 3, 4, 5, 6],
      );
      assert.deepEqual(
        audit.map((entry) => entry.policyVersion),
        [1, 2, 3, 4, 5, 6, 7],
      );
      assert.equal(await writers[0]!.policyVersion(), 7);
      await Promise.all(writers.map((writer) => writer.close()));
    });

    const grant = {
      id: 'run-1',
      workflowId: 'breakglass:support:shop.public.customers',
      principal: 'support',
      resource: 'shop.public.customers',
      ttlMs: 3_600_000,
    };

    test('break-glass grant, extend and revoke are idempotent, audited, and move policy_version', async () => {
      const registry = (await factory()).open({ now: clock().now });
      assert.equal((await registry.grants.grant(grant, { actor: 'alice', reason: 'incident 42' })).created, true);
      assert.equal((await registry.grants.grant(grant, { actor: 'alice', reason: 'incident 42' })).created, false);
      assert.equal(await registry.policyVersion(), 1);
      assert.deepEqual(
        (await registry.grants.active('support')).map((g) => g.id),
        ['run-1'],
      );
      assert.deepEqual(await registry.grants.active('analyst'), []);
      assert.equal((await registry.grants.latestFor(grant.workflowId))?.id, 'run-1');
      const later = '2025-01-01T02:00:00.000Z';
      const still = { actor: 'alice', reason: 'still on it' };
      assert.equal((await registry.grants.extend('run-1', later, still)).changed, true);
      assert.equal((await registry.grants.extend('run-1', later, still)).changed, false);
      assert.equal((await registry.grants.end('run-1', { actor: 'bob', reason: 'fixed' }, 'revoke')).changed, true);
      assert.equal((await registry.grants.end('run-1', { actor: 'bob', reason: 'fixed' }, 'revoke')).changed, false);
      const after = await registry.grants.extend('run-1', '2025-01-01T03:00:00.000Z', who);
      assert.equal(after.changed, false, 'ended stays ended');
      assert.deepEqual(await registry.grants.active(), []);
      assert.equal(await registry.policyVersion(), 3);
      assert.deepEqual(
        (await registry.audit({ principal: 'support' })).map((e) => [e.action, e.actor, e.reason]),
        [
          ['grant', 'alice', 'incident 42'],
          ['extend', 'alice', 'still on it'],
          ['revoke', 'bob', 'fixed'],
        ],
      );
      assert.equal((await registry.grants.list()).length, 1);
      await registry.close();
    });

    test('a grant past its expiry is not in force, and the first lapse() ends it once, as expired', async () => {
      const time = clock();
      const registry = (await factory()).open({ now: time.now });
      await registry.grants.grant(grant, { actor: 'alice', reason: 'incident' });
      time.advance(3_599_000);
      assert.equal((await registry.grants.active()).length, 1);
      time.advance(1_000);
      assert.equal((await registry.grants.active()).length, 0, 'not in force at its expiry');
      assert.equal(await registry.grants.lapse(), 1);
      assert.equal(await registry.grants.lapse(), 0);
      const ended = (await registry.grants.get('run-1'))!;
      assert.equal(ended.endedBy, 'pg-cdc');
      assert.equal(ended.endReason, 'ttl reached before a worker ended it');
      assert.equal((await registry.audit()).at(-1)!.action, 'expire');
      assert.equal(await registry.policyVersion(), 2);
      await registry.close();
    });

    test('a revocation racing an extension: exactly one of each applies, in some order, both audited', async () => {
      const store = await factory();
      const [a, b] = [store.open(), store.open()];
      await a.grants.grant(grant, { actor: 'alice', reason: 'incident' });
      const expiry = new Date(Date.now() + 7_200_000).toISOString();
      const [extended, ended] = await Promise.all([
        a.grants.extend('run-1', expiry, who),
        b.grants.end('run-1', { actor: 'bob', reason: 'done' }, 'revoke'),
      ]);
      assert.equal(ended.changed, true, 'the revocation always applies');
      const actions = (await a.audit()).map((entry) => entry.action);
      assert.deepEqual(actions, extended.changed ? ['grant', 'extend', 'revoke'] : ['grant', 'revoke']);
      assert.notEqual((await a.grants.get('run-1'))?.endedAt, null);
      await Promise.all([a.close(), b.close()]);
    });
  });
}
