import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CommitConflictError } from '../../lake/errors.js';
import { emptyManifest, ManifestStore, pgCdcManifestSchema, type PgCdcManifest } from '../../lake/manifest.js';
import { FilesystemObjectStore } from '../../lake/storage/filesystem.js';

const root = mkdtempSync(join(tmpdir(), 'pg-cdc-lake-manifest-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const store = new FilesystemObjectStore(join(root, `s${++n}`));
  return { store, manifests: new ManifestStore(store) };
};
const source = { database: 'shop', host: 'localhost', slot: 'pg_cdc', publication: 'pg_cdc_pub' };

const withTable = (manifest: PgCdcManifest | undefined, name: string, epoch: number, lsn: string): PgCdcManifest => {
  const base = manifest ?? emptyManifest(source);
  return {
    ...base,
    tables: {
      ...base.tables,
      [name]: {
        state: {
          metadata_location: `file:///lake/${name}/metadata/00001.metadata.json`,
          snapshot_id: '9069070424146742760',
          schema_id: 0,
        },
        columns: ['id', 'total'],
        primary_key: ['id'],
        row_count: 10 * epoch,
        epoch,
        committed_lsn: lsn,
        schema_version: 1,
      },
    },
  };
};

describe('pg-cdc manifest', () => {
  it('commits versions and keeps the latest copy at manifest.json', async () => {
    const { store, manifests } = fresh();
    assert.equal(await manifests.read(), undefined);
    const v1 = await manifests.update((m) => withTable(m, 'public.orders', 1, '0/16B3748'));
    assert.equal(v1.version, 1);
    const v2 = await manifests.update((m) => withTable(m, 'public.customers', 1, '0/16B3750'));
    assert.equal(v2.version, 2);
    const latest = JSON.parse(readFileSync(join(store.root, 'manifest.json'), 'utf8')) as PgCdcManifest;
    assert.deepEqual(Object.keys(latest.tables).sort(), ['public.customers', 'public.orders']);
    assert.deepEqual(latest, (await manifests.read())?.value);
    assert.ok(await store.exists('_pgcdc/manifest/v0000000002.json'));
  });

  it('concurrent updates of different tables all land; a stale commit conflicts', async () => {
    const { manifests } = fresh();
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        manifests.update((m) => withTable(m, `public.t${i}`, i + 1, `0/${i + 1}`), { retries: 50 }),
      ),
    );
    const current = (await manifests.read())!;
    assert.equal(Object.keys(current.value.tables).length, 6);
    await assert.rejects(manifests.commit(current.version - 1, current.value), CommitConflictError);
  });

  it('validates what it writes and reads', async () => {
    const { store, manifests } = fresh();
    const bad = withTable(undefined, 'public.orders', 1, 'not-an-lsn');
    await assert.rejects(manifests.commit(undefined, bad), /LSN/);
    assert.equal(pgCdcManifestSchema.safeParse({ format_version: 2 }).success, false);
    await store.put('_pgcdc/manifest/v0000000001.json', '{"format_version":1}');
    await assert.rejects(manifests.read(), (error: unknown) => (error as { code?: string }).code === 'LAKE_CORRUPT');
  });
});
