import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import { LocalCatalog } from '../../lake/catalog/local.js';
import { MANIFESTS_TO_MERGE, readManifestEntries, readManifestList } from '../../lake/iceberg/manifests.js';
import { currentSnapshot } from '../../lake/iceberg/metadata.js';
import { appendFiles, createTable, loadTableMetadata } from '../../lake/iceberg/table.js';
import { currentDataFiles } from '../../lake/reader.js';
import { FilesystemObjectStore } from '../../lake/storage/filesystem.js';
import { tempDir } from '../support/temp.js';

const schema: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  fields: [{ id: 1, name: 'id', required: true, type: 'long' }],
};

describe('manifests of a fast append', () => {
  it('are merged into one once a content has as many as Iceberg merges, keeping every sequence number', async () => {
    const store = new FilesystemObjectStore(join(tempDir('pg-cdc-manifests-'), 'lake'));
    const catalog = new LocalCatalog(store);
    await createTable(store, catalog, { identifier: 'public.t', location: 'public/t', schema });
    const file = (n: number) => ({
      path: store.uri(`public/t/data/e${n}.parquet`),
      recordCount: 1,
      fileSizeInBytes: 10,
    });
    const manifestCount = async (): Promise<number> => {
      const { metadata } = await loadTableMetadata(store, catalog, 'public.t');
      return (await readManifestList(store, currentSnapshot(metadata)!['manifest-list'])).length;
    };
    for (let n = 1; n <= MANIFESTS_TO_MERGE; n++)
      await appendFiles(store, catalog, 'public.t', { dataFiles: [file(n)] });
    assert.equal(await manifestCount(), MANIFESTS_TO_MERGE);
    // The next append finds 100 manifests to carry: they become one, beside the new one.
    await appendFiles(store, catalog, 'public.t', { dataFiles: [file(MANIFESTS_TO_MERGE + 1)] });
    assert.equal(await manifestCount(), 2);

    const { metadata } = await loadTableMetadata(store, catalog, 'public.t');
    const manifests = await readManifestList(store, currentSnapshot(metadata)!['manifest-list']);
    const entries = (await Promise.all(manifests.map((m) => readManifestEntries(store, m)))).flat();
    assert.equal(entries.length, MANIFESTS_TO_MERGE + 1);
    for (const entry of entries) {
      const n = Number(/e(\d+)\.parquet$/.exec(entry.data_file.file_path)![1]);
      // Each file keeps the sequence number of the append that added it: deletes keep applying as before.
      assert.equal(Number(entry.sequence_number), n, entry.data_file.file_path);
      assert.equal(entry.status, n === MANIFESTS_TO_MERGE + 1 ? 1 : 0);
    }
    assert.equal((await currentDataFiles(store, catalog, 'public.t')).dataFiles.length, MANIFESTS_TO_MERGE + 1);
  });
});
