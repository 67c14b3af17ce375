import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Registry } from '../../governance/index.js';
import { columnResource, tableResource } from '../../governance/resource.js';
import { recordColumnChanges } from '../../stream/governance.js';
import { tempDir } from '../support/temp.js';

describe('column changes in the governance registry', () => {
  it('a renamed column keeps its own tags; an added one is registered to inherit; both audited', async () => {
    const registry = Registry.open(join(tempDir('pg-cdc-gov-'), 'governance.sqlite'));
    try {
      const change = { actor: 'test', reason: 'setup' };
      await registry.register(tableResource('app', 'public', 'people'), { domain: 'crm' }, change);
      await registry.register(columnResource('app', 'public', 'people', 'ssn'), { pii: 'true' }, change);
      await recordColumnChanges(registry, 'app', 'public.people', 3, [
        { kind: 'rename', from: 'ssn', to: 'national_id', fieldId: 4 },
        { kind: 'add', column: 'nickname', fieldId: 9 },
      ]);
      const renamed = columnResource('app', 'public', 'people', 'national_id');
      assert.deepEqual((await registry.effectiveTags(renamed)).tags, { domain: 'crm', pii: 'true' });
      const added = columnResource('app', 'public', 'people', 'nickname');
      assert.deepEqual((await registry.get(added))?.tags, {});
      assert.deepEqual((await registry.effectiveTags(added)).tags, { domain: 'crm' });
      const audit = await registry.audit({ resource: renamed });
      assert.match(audit.at(-1)?.reason ?? '', /renamed to national_id while streaming \(schema 3\)/);
    } finally {
      await registry.close();
    }
  });
});
