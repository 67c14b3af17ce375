import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../core/config/index.js';
import { newColumnsPolicy, UNCLASSIFIED_TAG } from '../../governance/new-columns.js';
import { openAccessPolicy } from '../../governance/policy.js';
import { Registry } from '../../governance/registry.js';
import { parseResource as r } from '../../governance/resource.js';
import { recordColumnChanges } from '../../stream/governance.js';
import { tempDir } from '../support/temp.js';

const who = { actor: 'alice', reason: 'test' };

function setup(governance: string[]) {
  const config = parseConfig(
    [
      `state_dir: ${tempDir('pg-cdc-newcol-')}`,
      'source:',
      '  postgres:',
      '    url: postgresql://u@h/shop',
      'governance:',
      ...governance,
      '  roles:',
      '    analyst: { grant: "sensitivity in [public, internal]" }',
    ].join('\n'),
  );
  return { config, registry: Registry.forConfig(config) };
}

const lake = [{ identifier: 'public.orders', columns: ['id', 'amount', 'card_number'] }];

describe('columns added while streaming', () => {
  it('are hidden from every role in strict mode until acl set classifies them', async () => {
    const { config, registry } = setup(['  mode: strict']);
    try {
      assert.equal(newColumnsPolicy(config), 'hidden');
      await registry.register(r('shop.public.orders'), { sensitivity: 'internal' }, who);
      await recordColumnChanges(
        registry,
        'shop',
        'public.orders',
        2,
        [{ kind: 'add', column: 'card_number', fieldId: 3 }],
        newColumnsPolicy(config),
      );
      const policy = openAccessPolicy(config, { registry });
      const columns = async (): Promise<readonly string[]> =>
        (await policy.decide('analyst', lake)).tables.get('public.orders')?.columns ?? [];
      // The table's tags would admit it; the marker keeps it out.
      assert.deepEqual(await columns(), ['id', 'amount']);
      const audit = await registry.audit({ resource: r('shop.public.orders.card_number') });
      assert.match(audit.at(-1)?.reason ?? '', /hidden until classified/);

      // The first classification removes the marker: here it keeps the table's sensitivity, and the column appears.
      await registry.setTags(r('shop.public.orders.card_number'), { set: { domain: 'payments' } }, who);
      assert.equal((await registry.get(r('shop.public.orders.card_number')))?.tags[UNCLASSIFIED_TAG], undefined);
      assert.deepEqual(await columns(), ['id', 'amount', 'card_number']);
      await policy.close();
    } finally {
      await registry.close();
    }
  });

  it('inherit their table tags by default outside strict mode, or when governance.new_columns says so', async () => {
    for (const governance of [[], ['  mode: strict', '  new_columns: inherit']]) {
      const { config, registry } = setup(governance);
      try {
        assert.equal(newColumnsPolicy(config), 'inherit');
        await registry.register(r('shop.public.orders'), { sensitivity: 'internal' }, who);
        await recordColumnChanges(
          registry,
          'shop',
          'public.orders',
          2,
          [{ kind: 'add', column: 'card_number', fieldId: 3 }],
          newColumnsPolicy(config),
        );
        const policy = openAccessPolicy(config, { registry });
        const decision = await policy.decide('analyst', lake);
        assert.deepEqual(decision.tables.get('public.orders')?.columns, ['id', 'amount', 'card_number']);
        await policy.close();
      } finally {
        await registry.close();
      }
    }
  });
});
