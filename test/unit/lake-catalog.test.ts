import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isPgCdcError } from '../../core/errors/index.js';
import { parseIdentifier } from '../../lake/catalog/index.js';
import { LocalCatalog } from '../../lake/catalog/local.js';
import { CommitConflictError } from '../../lake/errors.js';
import { FilesystemObjectStore } from '../../lake/storage/filesystem.js';

const root = mkdtempSync(join(tmpdir(), 'pg-cdc-lake-catalog-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => new LocalCatalog(new FilesystemObjectStore(join(root, `s${++n}`)));
const code = (expected: string) => (error: unknown) => isPgCdcError(error) && error.code === expected;

describe('local catalog', () => {
  it('creates, loads, lists and drops tables', async () => {
    const catalog = fresh();
    assert.deepEqual(await catalog.listTables(), []);
    await catalog.createTable('public.orders', {
      metadataKey: 'public/orders/metadata/1.json',
      location: 'public/orders',
    });
    await catalog.createTable('public.orders__changes', {
      metadataKey: 'public/orders__changes/metadata/1.json',
      location: 'public/orders__changes',
    });
    await catalog.createTable('audit.log', { metadataKey: 'audit/log/metadata/1.json', location: 'audit/log' });
    assert.deepEqual(await catalog.listTables(), ['audit.log', 'public.orders', 'public.orders__changes']);
    assert.deepEqual(await catalog.listTables('public'), ['public.orders', 'public.orders__changes']);
    assert.deepEqual(await catalog.loadTable('public.orders'), {
      identifier: 'public.orders',
      metadataKey: 'public/orders/metadata/1.json',
      location: 'public/orders',
    });
    await assert.rejects(
      catalog.createTable('public.orders', { metadataKey: 'x/y', location: 'x' }),
      code('TABLE_EXISTS'),
    );
    assert.equal(await catalog.dropTable('audit.log'), true);
    assert.equal(await catalog.dropTable('audit.log'), false);
    await assert.rejects(catalog.loadTable('audit.log'), code('TABLE_NOT_FOUND'));
    await assert.rejects(catalog.commitTable('audit.log', 'a', 'b'), code('TABLE_NOT_FOUND'));
  });

  it('rejects malformed identifiers and keys', async () => {
    const catalog = fresh();
    for (const id of ['orders', '.orders', 'public.', '', 'a/b.c']) {
      assert.throws(() => parseIdentifier(id), code('TABLE_IDENTIFIER_INVALID'), id);
    }
    await assert.rejects(
      catalog.createTable('public.t', { metadataKey: '../escape.json', location: 'public/t' }),
      code('STORAGE_KEY_INVALID'),
    );
  });

  it('concurrent commits to the same table: exactly one wins', async () => {
    const catalog = fresh();
    await catalog.createTable('public.orders', { metadataKey: 'm/v1.json', location: 'public/orders' });
    const writers = 8;
    const results = await Promise.allSettled(
      Array.from({ length: writers }, (_, i) => catalog.commitTable('public.orders', 'm/v1.json', `m/v2-${i}.json`)),
    );
    const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    assert.equal(winners.length, 1);
    for (const result of results) {
      if (result.status === 'fulfilled') continue;
      const error: unknown = result.reason;
      assert.ok(error instanceof CommitConflictError, String(error));
      assert.equal(error.context.table, 'public.orders');
      assert.equal(error.context.expected, 'm/v1.json');
      assert.equal(error.context.actual, `m/v2-${winners[0]}.json`);
    }
    assert.equal((await catalog.loadTable('public.orders')).metadataKey, `m/v2-${winners[0]}.json`);
  });

  it('concurrent commits to different tables all succeed', async () => {
    const catalog = fresh();
    const tables = Array.from({ length: 8 }, (_, i) => `public.t${i}`);
    for (const id of tables) await catalog.createTable(id, { metadataKey: `${id}/v1.json`, location: id });
    await Promise.all(tables.map((id) => catalog.commitTable(id, `${id}/v1.json`, `${id}/v2.json`)));
    for (const id of tables) assert.equal((await catalog.loadTable(id)).metadataKey, `${id}/v2.json`);
  });

  it('a stale writer loses even after other tables moved the catalog on', async () => {
    const catalog = fresh();
    await catalog.createTable('public.a', { metadataKey: 'a/v1.json', location: 'a' });
    await catalog.createTable('public.b', { metadataKey: 'b/v1.json', location: 'b' });
    await catalog.commitTable('public.a', 'a/v1.json', 'a/v2.json');
    await catalog.commitTable('public.b', 'b/v1.json', 'b/v2.json');
    await assert.rejects(catalog.commitTable('public.a', 'a/v1.json', 'a/v2-stale.json'), CommitConflictError);
    assert.equal((await catalog.loadTable('public.a')).metadataKey, 'a/v2.json');
  });
});
