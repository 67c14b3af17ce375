import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Registry } from '../../governance/registry.js';
import { formatResource, parseResource } from '../../governance/resource.js';
import { parseTagAssignment } from '../../governance/tags.js';
import { registryContract } from '../support/registry-contract.js';
import { tempDir } from '../support/temp.js';

const r = parseResource;

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

registryContract('sqlite', () => {
  const path = join(tempDir('pg-cdc-gov-'), 'governance.sqlite');
  return { open: (options) => Registry.open(path, options) };
});
