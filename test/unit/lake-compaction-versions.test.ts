/**
 * Which versions of pg-cdc's manifest and of the local catalog compaction prunes (lake/compaction/versions.ts): a
 * manifest version stays while every table it names is at an epoch its retained snapshots reach back to, beside
 * the newest `retain_versions`; the catalog keeps its newest ones.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LocalCatalog } from '../../lake/catalog/local.js';
import { pruneLakeVersions } from '../../lake/compaction/versions.js';
import { SUMMARY_KEY } from '../../lake/contract/index.js';
import { expireSnapshots } from '../../lake/iceberg/expire.js';
import { appendFiles, createTable } from '../../lake/iceberg/table.js';
import { emptyManifest, ManifestStore, type ManifestTable } from '../../lake/manifest.js';
import { FilesystemObjectStore } from '../../lake/storage/filesystem.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import { tempDir } from '../support/temp.js';

const schema: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  'identifier-field-ids': [1],
  fields: [{ id: 1, name: 'id', required: true, type: 'long' }],
};

function entry(epoch: number): ManifestTable {
  return {
    state: { metadata_location: 'file:///lake/m.json', snapshot_id: null, schema_id: 0 },
    columns: ['id'],
    primary_key: ['id'],
    row_count: 0,
    epoch,
    committed_lsn: `0/${epoch}`,
    schema_version: 0,
  };
}

describe('pruning the manifest and the catalog', () => {
  it('keeps the manifest versions that still read whole, and the newest catalog versions', async () => {
    const store = new FilesystemObjectStore(join(tempDir('pg-cdc-versions-'), 'lake'));
    const catalog = new LocalCatalog(store);
    const manifest = new ManifestStore(store);
    // public.a commits epochs 0..5 and keeps the snapshots of the last two; public.b keeps its base (epoch 0).
    for (const table of ['public.a', 'public.b']) {
      await createTable(store, catalog, { identifier: table, location: table.replace('.', '/'), schema });
    }
    const source = { database: 'app', slot: 's', publication: 'p' };
    const epochs = { a: [0, 1, 2, 3, 4, 5], b: [0] };
    for (const epoch of epochs.b) {
      await appendFiles(store, catalog, 'public.b', { dataFiles: [], summary: { [SUMMARY_KEY.epoch]: String(epoch) } });
    }
    // v1 names only public.a; every later one both tables, public.a one epoch further each time.
    await manifest.update(() => ({ ...emptyManifest(source), tables: { 'public.a': entry(0) } }));
    for (const epoch of epochs.a) {
      await appendFiles(store, catalog, 'public.a', { dataFiles: [], summary: { [SUMMARY_KEY.epoch]: String(epoch) } });
      await manifest.update((current) => ({
        ...current!,
        tables: { 'public.a': entry(epoch), 'public.b': entry(0) },
      }));
    }
    await expireSnapshots(store, catalog, 'public.a', { retainLast: 2 });
    const latest = (await manifest.read())!.version;
    assert.equal(latest, 7);

    const pruned = await pruneLakeVersions(
      { store, catalog, manifest },
      { retainVersions: 1, minAgeMs: 0, now: Date.now() + 60_000 },
    );
    // v6 is the first to name public.a at epoch 4, the oldest it still has a snapshot of.
    assert.deepEqual(pruned.manifest, { floor: 6, deleted: 5, latest: 7 });
    await assert.rejects(manifest.readVersion(5), (error: unknown) => {
      assert.equal((error as { code?: string }).code, 'VERSION_PRUNED');
      return true;
    });
    assert.equal((await manifest.readVersion(6)).tables['public.a']?.epoch, 4);
    // The catalog: every table create and commit made a version; only the newest stays.
    assert.ok(pruned.catalog, 'the local catalog prunes its versions');
    assert.equal(pruned.catalog.floor, pruned.catalog.latest);
    assert.equal(pruned.catalog.deleted, pruned.catalog.latest! - 1);
    assert.deepEqual(await catalog.listTables(), ['public.a', 'public.b']);

    // Nothing more to prune: a second run changes nothing, and young versions stay whatever their count.
    const again = await pruneLakeVersions({ store, catalog, manifest }, { retainVersions: 1, minAgeMs: 3_600_000 });
    assert.deepEqual(again.manifest, { floor: 6, deleted: 0, latest: 7 });
  });
});
