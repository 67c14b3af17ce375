import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LocalCatalog } from '../../lake/catalog/local.js';
import { SUMMARY_KEY } from '../../lake/contract/index.js';
import { CommitConflictError } from '../../lake/errors.js';
import { decodeManifest, decodeManifestList } from '../../lake/iceberg/avro.js';
import { currentSnapshot } from '../../lake/iceberg/metadata.js';
import { rewriteFiles } from '../../lake/iceberg/rewrite.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import { appendFiles, createTable, loadTableMetadata } from '../../lake/iceberg/table.js';
import { currentDataFiles } from '../../lake/reader.js';
import { FilesystemObjectStore } from '../../lake/storage/filesystem.js';
import { tempDir } from '../support/temp.js';

const schema: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  fields: [{ id: 1, name: 'id', required: true, type: 'long' }],
};

async function tableOfThreeEpochs() {
  const store = new FilesystemObjectStore(join(tempDir('pg-cdc-lake-rewrite-'), 'lake'));
  const catalog = new LocalCatalog(store);
  await createTable(store, catalog, { identifier: 'public.t', location: 'public/t', schema });
  const file = (name: string, records: number, content?: 1) => ({
    path: store.uri(`public/t/data/${name}`),
    recordCount: records,
    fileSizeInBytes: 100 * records,
    ...(content ? { content } : {}),
  });
  await appendFiles(store, catalog, 'public.t', { dataFiles: [file('a.parquet', 10)] });
  await appendFiles(store, catalog, 'public.t', { dataFiles: [file('b.parquet', 5), file('d1.parquet', 2, 1)] });
  const third = await appendFiles(store, catalog, 'public.t', { dataFiles: [file('c.parquet', 4)] });
  return { store, catalog, file, base: third.snapshot };
}

describe('rewriting files (a replace snapshot)', () => {
  it('removes the rewritten files, keeps the others with their sequence numbers, and totals add up', async () => {
    const { store, catalog, file, base } = await tableOfThreeEpochs();
    const result = await rewriteFiles(store, catalog, 'public.t', {
      remove: new Set([file('a.parquet', 10).path, file('b.parquet', 5).path, file('d1.parquet', 2, 1).path]),
      add: [file('ab.parquet', 13)],
      expectedSnapshotId: base['snapshot-id'],
      summary: { [SUMMARY_KEY.kind]: 'compaction' },
    });
    assert.equal(result.committed, true);
    const summary = result.snapshot.summary;
    assert.equal(summary.operation, 'replace');
    assert.equal(summary['total-records'], '17');
    assert.equal(summary['total-data-files'], '2');
    assert.equal(summary['total-delete-files'], '0');
    assert.equal(summary['deleted-data-files'], '2');
    assert.equal(summary['removed-delete-files'], '1');
    assert.equal(summary[SUMMARY_KEY.kind], 'compaction');

    const live = await currentDataFiles(store, catalog, 'public.t');
    assert.deepEqual(live.dataFiles.map((f) => f.path.split('/').pop()).sort(), ['ab.parquet', 'c.parquet']);
    assert.deepEqual(live.deleteFiles, []);
    // The file that stayed keeps the sequence number it was added with (3): deletes keep applying as before.
    const manifests = decodeManifestList((await store.get(store.keyOf(result.snapshot['manifest-list'])!))!);
    const entries = (
      await Promise.all(manifests.map(async (m) => decodeManifest((await store.get(store.keyOf(m.manifest_path)!))!)))
    ).flat();
    const c = entries.find((e) => e.data_file.file_path.endsWith('c.parquet'))!;
    assert.equal(Number(c.sequence_number), 3);
    const ab = entries.find((e) => e.data_file.file_path.endsWith('ab.parquet'))!;
    assert.equal(ab.status, 1);
    assert.equal(Number(ab.sequence_number), 4);
    // Time travel to the base still sees the old files.
    const old = await currentDataFiles(store, catalog, 'public.t', { snapshotId: base['snapshot-id'] });
    assert.equal(old.dataFiles.length, 3);
  });

  it('refuses a table that moved on, or files that are no longer live, and leaves nothing behind', async () => {
    const { store, catalog, file, base } = await tableOfThreeEpochs();
    await appendFiles(store, catalog, 'public.t', { dataFiles: [file('e.parquet', 1)] });
    const before = (await store.list('public/t/metadata/')).length;
    await assert.rejects(
      rewriteFiles(store, catalog, 'public.t', {
        remove: new Set([file('a.parquet', 10).path]),
        add: [file('a2.parquet', 10)],
        expectedSnapshotId: base['snapshot-id'],
      }),
      CommitConflictError,
    );
    await assert.rejects(
      rewriteFiles(store, catalog, 'public.t', { remove: new Set([file('gone.parquet', 1).path]), add: [] }),
      CommitConflictError,
    );
    assert.equal((await store.list('public/t/metadata/')).length, before);
    const { metadata } = await loadTableMetadata(store, catalog, 'public.t');
    assert.equal(currentSnapshot(metadata)?.summary.operation, 'append');
  });
});
