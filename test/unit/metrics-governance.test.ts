import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig } from '../../core/config/index.js';
import { processRegistry } from '../../core/metrics/index.js';
import { diffIntent, syncIntent, type LakeInventory } from '../../governance/intent.js';
import { Registry } from '../../governance/registry.js';
import { parseResource as r } from '../../governance/resource.js';
import { tempDir } from '../support/temp.js';

const who = { actor: 'alice', reason: 'test' };

/** The value of one series of the process registry (0 when it has none yet). */
async function sample(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const family = await processRegistry.getSingleMetric(name)?.get();
  const found = family?.values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want));
  return found?.value;
}
const count = async (name: string, labels: Record<string, string> = {}): Promise<number> =>
  (await sample(name, labels)) ?? 0;

function setup() {
  const dir = tempDir('pg-cdc-metrics-gov-');
  const config = parseConfig(
    [
      `state_dir: ${dir}`,
      'source:',
      '  postgres:',
      '    url: postgresql://u@h/shop',
      'tables:',
      '  tags:',
      '    "public.customers": { sensitivity: pii }',
      'governance:',
      '  roles:',
      '    support: { grant: "sensitivity = pii" }',
    ].join('\n'),
  );
  const clock = { now: new Date('2025-01-01T00:00:00.000Z') };
  const inventory: LakeInventory = {
    database: 'shop',
    location: dir,
    tables: [{ identifier: 'public.customers', schema: 'public', table: 'customers', columns: ['id', 'email'] }],
  };
  return {
    config,
    clock,
    inventory,
    registry: Registry.open(join(dir, 'governance.sqlite'), { now: () => clock.now }),
  };
}

describe('the governance metrics', () => {
  it('count each audit entry the registry writes, by action, and nothing for a change that changed nothing', async () => {
    const { registry } = setup();
    const registered = await count('pgcdc_audit_events_total', { action: 'register' });
    const set = await count('pgcdc_audit_events_total', { action: 'set' });
    await registry.register(r('shop.public.orders'), {}, who);
    await registry.register(r('shop.public.orders'), {}, who);
    await registry.setTags(r('shop.public.orders'), { set: { domain: 'sales' } }, who);
    await registry.setTags(r('shop.public.orders'), { set: { domain: 'sales' } }, who);
    assert.equal(await count('pgcdc_audit_events_total', { action: 'register' }), registered + 1);
    assert.equal(await count('pgcdc_audit_events_total', { action: 'set' }), set + 1);
    assert.equal((await registry.audit()).length, 2);
    await registry.close();
  });

  it('read the break-glass grants in force from the open registry at scrape time', async () => {
    const { registry, clock } = setup();
    const granted = await count('pgcdc_audit_events_total', { action: 'grant' });
    const expired = await count('pgcdc_audit_events_total', { action: 'expire' });
    assert.equal(await sample('pgcdc_breakglass_grants_active'), 0);
    const grant = { workflowId: 'breakglass:support:shop.public.orders', principal: 'support' };
    await registry.grants.grant({ ...grant, id: 'g1', resource: 'shop.public.orders', ttlMs: 60_000 }, who);
    await registry.grants.grant({ ...grant, id: 'g2', resource: 'shop.public.customers', ttlMs: 600_000 }, who);
    assert.equal(await sample('pgcdc_breakglass_grants_active'), 2);
    assert.equal(await count('pgcdc_audit_events_total', { action: 'grant' }), granted + 2);
    clock.now = new Date(clock.now.getTime() + 120_000);
    assert.equal(await sample('pgcdc_breakglass_grants_active'), 1);
    assert.equal(await registry.grants.lapse(), 1);
    assert.equal(await count('pgcdc_audit_events_total', { action: 'expire' }), expired + 1);
    await registry.close();
    // A closed registry is no longer asked (and this process has no other open).
    assert.equal(await sample('pgcdc_breakglass_grants_active'), 0);
  });

  it('report registry drift found by a diff, healed by a sync, and none left after it', async () => {
    const { config, registry, inventory } = setup();
    const healed = await count('pgcdc_acl_drift_healed_total', { target: 'registry' });
    // Unregistered: the database, the table and its two columns.
    assert.equal((await diffIntent(registry, config, inventory)).drift.length, 4);
    assert.equal(await sample('pgcdc_acl_drift', { target: 'registry' }), 4);
    assert.equal((await syncIntent(registry, config, inventory, who)).length, 4);
    assert.equal(await count('pgcdc_acl_drift_healed_total', { target: 'registry' }), healed + 4);
    assert.equal(await sample('pgcdc_acl_drift', { target: 'registry' }), 0);
    await registry.setTags(r('shop.public.customers'), { set: { sensitivity: 'public' } }, who);
    assert.equal((await diffIntent(registry, config, inventory)).drift.length, 1);
    assert.equal(await sample('pgcdc_acl_drift', { target: 'registry' }), 1);
    await registry.close();
  });
});
