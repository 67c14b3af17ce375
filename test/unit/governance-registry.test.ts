import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Registry } from '../../governance/registry.js';
import { formatResource, parseResource } from '../../governance/resource.js';
import { parseTagAssignment } from '../../governance/tags.js';
import { tempDir } from '../support/temp.js';

const who = { actor: 'alice', reason: 'classification review' };
const r = parseResource;

/** A registry in a fresh file with a clock the test moves. */
function freshRegistry(start = '2025-01-01T00:00:00.000Z') {
  const path = join(tempDir('pg-cdc-gov-'), 'governance.sqlite');
  const clock = { now: new Date(start) };
  const registry = Registry.open(path, { now: () => clock.now });
  const advance = (ms: number): void => void (clock.now = new Date(clock.now.getTime() + ms));
  return { registry, path, clock, advance };
}

describe('resources', () => {
  it('parse and print db, table and column resources, quoting names that hold dots or quotes', () => {
    assert.deepEqual(r('shop'), { kind: 'database', db: 'shop' });
    assert.deepEqual(r('shop.public.orders'), { kind: 'table', db: 'shop', schema: 'public', table: 'orders' });
    assert.deepEqual(r('shop.public.people.Display Name'), {
      kind: 'column',
      db: 'shop',
      schema: 'public',
      table: 'people',
      column: 'Display Name',
    });
    const odd = r('"my.db".public."a""b.c".x');
    assert.deepEqual(odd, { kind: 'column', db: 'my.db', schema: 'public', table: 'a"b.c', column: 'x' });
    assert.equal(formatResource(odd), '"my.db".public."a""b.c".x');
    for (const bad of ['', 'shop.public', 'a.b.c.d.e', 'shop..orders', 'shop.public."open', 'a"b.c.d']) {
      assert.throws(() => r(bad), { code: 'RESOURCE_INVALID' }, bad);
    }
  });

  it('parse tag assignments at the first "=" and reject empty keys or values', () => {
    assert.deepEqual(parseTagAssignment('formula=a=b'), ['formula', 'a=b']);
    for (const bad of ['novalue', '=x', 'k=', ' =x'])
      assert.throws(() => parseTagAssignment(bad), { code: 'TAG_INVALID' });
  });
});

describe('the registry', () => {
  it('registers at version 0, idempotently, and audits the registration', () => {
    const { registry } = freshRegistry();
    const first = registry.register(r('shop.public.orders'), { domain: 'sales' }, who);
    assert.equal(first.created, true);
    assert.equal(first.record.version, 0);
    assert.deepEqual(first.record.tags, { domain: 'sales' });
    const again = registry.register(r('shop.public.orders'), { domain: 'other' }, who);
    assert.equal(again.created, false);
    assert.deepEqual(again.record.tags, { domain: 'sales' });
    const audit = registry.audit();
    assert.equal(audit.length, 1);
    assert.equal(audit[0]!.action, 'register');
    assert.deepEqual(audit[0]!.after, { tags: { domain: 'sales' } });
    registry.close();
  });

  it('bumps the resource version and policy_version on every change, and audits who, when, why, before and after', () => {
    const { registry, advance } = freshRegistry();
    const orders = r('shop.public.orders');
    registry.register(orders, {}, who);
    assert.equal(registry.policyVersion(), 1);
    advance(1000);
    const set = registry.setTags(orders, { set: { sensitivity: 'internal', domain: 'sales' } }, who);
    assert.equal(set.changed, true);
    assert.equal(set.record.version, 1);
    assert.equal(registry.policyVersion(), 2);
    const same = registry.setTags(orders, { set: { sensitivity: 'internal' } }, who);
    assert.equal(same.changed, false, 'setting what is there changes nothing');
    assert.equal(registry.policyVersion(), 2);
    advance(1000);
    const bob = { actor: 'bob', reason: 'holds emails' };
    const unset = registry.setTags(orders, { set: { sensitivity: 'pii' }, unset: ['domain'] }, bob);
    assert.equal(unset.record.version, 2);
    assert.deepEqual(unset.record.tags, { sensitivity: 'pii' });
    const last = registry.audit({ resource: orders }).at(-1)!;
    assert.equal(last.actor, 'bob');
    assert.equal(last.reason, 'holds emails');
    assert.equal(last.at, '2025-01-01T00:00:02.000Z');
    assert.deepEqual(last.before, { tags: { domain: 'sales', sensitivity: 'internal' } });
    assert.deepEqual(last.after, { tags: { sensitivity: 'pii' } });
    assert.equal(last.version, 2);
    assert.equal(last.policyVersion, 3);
    assert.throws(() => registry.setTags(r('shop.public.nope'), { set: { a: 'b' } }, who), {
      code: 'RESOURCE_NOT_REGISTERED',
    });
    registry.close();
  });

  it('resolves effective tags column over table over database, registered or not', () => {
    const { registry } = freshRegistry();
    registry.register(r('shop'), { owner: 'data-team', sensitivity: 'internal' }, who);
    registry.register(r('shop.public.customers'), { domain: 'crm' }, who);
    registry.register(r('shop.public.customers.email'), { sensitivity: 'pii' }, who);
    assert.deepEqual(registry.effectiveTags(r('shop.public.customers.email')), {
      tags: { domain: 'crm', owner: 'data-team', sensitivity: 'pii' },
      from: {
        owner: 'shop',
        sensitivity: 'shop.public.customers.email',
        domain: 'shop.public.customers',
      },
    });
    assert.deepEqual(registry.effectiveTags(r('shop.public.customers.id')).tags, {
      domain: 'crm',
      owner: 'data-team',
      sensitivity: 'internal',
    });
    assert.deepEqual(registry.effectiveTags(r('other.public.customers')).tags, {});
    assert.equal(registry.database(), 'shop');
    registry.close();
  });

  it('shares one file between connections: a change made by one is read by the other at once', () => {
    const { registry, path } = freshRegistry();
    const other = Registry.open(path);
    registry.register(r('shop.public.orders'), { a: 'b' }, who);
    assert.equal(other.policyVersion(), 1);
    other.setTags(r('shop.public.orders'), { set: { a: 'c' } }, who);
    assert.deepEqual(registry.get(r('shop.public.orders'))?.tags, { a: 'c' });
    assert.equal(registry.policyVersion(), 2);
    other.close();
    registry.close();
  });
});

describe('break-glass grants in the registry', () => {
  const grant = {
    id: 'run-1',
    workflowId: 'breakglass:support:shop.public.customers',
    principal: 'support',
    resource: 'shop.public.customers',
    ttlMs: 3_600_000,
  };

  it('grant, extend and revoke are idempotent, audited, and move policy_version', () => {
    const { registry } = freshRegistry();
    assert.equal(registry.grants.grant(grant, { actor: 'alice', reason: 'incident 42' }).created, true);
    assert.equal(registry.grants.grant(grant, { actor: 'alice', reason: 'incident 42' }).created, false);
    assert.equal(registry.policyVersion(), 1);
    assert.deepEqual(
      registry.grants.active('support').map((g) => g.id),
      ['run-1'],
    );
    assert.deepEqual(registry.grants.active('analyst'), []);
    const later = '2025-01-01T02:00:00.000Z';
    assert.equal(registry.grants.extend('run-1', later, { actor: 'alice', reason: 'still on it' }).changed, true);
    assert.equal(registry.grants.extend('run-1', later, { actor: 'alice', reason: 'still on it' }).changed, false);
    assert.equal(registry.grants.end('run-1', { actor: 'bob', reason: 'fixed' }, 'revoke').changed, true);
    assert.equal(registry.grants.end('run-1', { actor: 'bob', reason: 'fixed' }, 'revoke').changed, false);
    assert.equal(registry.grants.extend('run-1', '2025-01-01T03:00:00.000Z', who).changed, false, 'ended stays ended');
    assert.deepEqual(registry.grants.active(), []);
    assert.equal(registry.policyVersion(), 3);
    assert.deepEqual(
      registry.audit({ principal: 'support' }).map((e) => [e.action, e.actor, e.reason]),
      [
        ['grant', 'alice', 'incident 42'],
        ['extend', 'alice', 'still on it'],
        ['revoke', 'bob', 'fixed'],
      ],
    );
    registry.close();
  });

  it('a grant past its expiry is not in force, and the first lapse() ends it once, audited as expired', () => {
    const { registry, advance } = freshRegistry();
    registry.grants.grant(grant, { actor: 'alice', reason: 'incident' });
    advance(3_599_000);
    assert.equal(registry.grants.active().length, 1);
    advance(1_000);
    assert.equal(registry.grants.active().length, 0, 'not in force at its expiry');
    assert.equal(registry.grants.lapse(), 1);
    assert.equal(registry.grants.lapse(), 0);
    const ended = registry.grants.get('run-1')!;
    assert.equal(ended.endedBy, 'pg-cdc');
    assert.equal(ended.endReason, 'ttl reached before a worker ended it');
    const last = registry.audit().at(-1)!;
    assert.equal(last.action, 'expire');
    assert.equal(registry.policyVersion(), 2);
    registry.close();
  });
});
