import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LocalCatalog } from '../../lake/catalog/local.js';
import { SUMMARY_KEY } from '../../lake/contract/index.js';
import { CommitConflictError } from '../../lake/errors.js';
import { decodeManifest, decodeManifestList } from '../../lake/iceberg/avro.js';
import { currentSnapshot, parseTableMetadata } from '../../lake/iceberg/metadata.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import {
  appendFiles,
  createTable,
  findSnapshotByProperty,
  loadTableMetadata,
  randomSnapshotId,
} from '../../lake/iceberg/table.js';
import { FilesystemObjectStore } from '../../lake/storage/filesystem.js';
import { decodeUtf8 } from '../../lake/storage/keys.js';

const root = mkdtempSync(join(tmpdir(), 'pg-cdc-lake-iceberg-'));
after(() => rmSync(root, { recursive: true, force: true }));

const schema: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  'identifier-field-ids': [1],
  fields: [
    { id: 1, name: 'id', required: true, type: 'long' },
    { id: 2, name: 'amount', required: false, type: 'decimal(12, 2)' },
    {
      id: 3,
      name: 'tags',
      required: false,
      type: { type: 'list', 'element-id': 4, element: 'int', 'element-required': false },
    },
  ],
};

let n = 0;
async function freshTable() {
  const store = new FilesystemObjectStore(join(root, `s${++n}`));
  const catalog = new LocalCatalog(store);
  const table = await createTable(store, catalog, { identifier: 'public.orders', location: 'public/orders', schema });
  const file = (name: string, records: number, content?: 0 | 1) => ({
    path: store.uri(`public/orders/data/${name}`),
    recordCount: records,
    fileSizeInBytes: 1000 + records,
    ...(content === undefined ? {} : { content }),
  });
  return { store, catalog, table, file };
}

describe('Iceberg table writer', () => {
  it('creates a v2 table with the required metadata fields', async () => {
    const { store, table } = await freshTable();
    const m = table.metadata;
    assert.equal(m['format-version'], 2);
    assert.match(m['table-uuid'], /^[0-9a-f-]{36}$/);
    assert.equal(m.location, store.uri('public/orders'));
    assert.equal(m['last-column-id'], 4);
    assert.equal(m['last-sequence-number'], 0);
    assert.equal(m['current-snapshot-id'], -1n);
    assert.deepEqual(m['partition-specs'], [{ 'spec-id': 0, fields: [] }]);
    assert.equal(m['last-partition-id'], 999);
    assert.deepEqual(m['sort-orders'], [{ 'order-id': 0, fields: [] }]);
    assert.match(table.metadataKey, /^public\/orders\/metadata\/00001-[0-9a-f-]{36}\.metadata\.json$/);
    const raw = JSON.parse(decodeUtf8((await store.get(table.metadataKey))!)) as Record<string, unknown>;
    for (const key of ['last-updated-ms', 'schemas', 'current-schema-id', 'default-spec-id', 'default-sort-order-id']) {
      assert.ok(key in raw, key);
    }
  });

  it('appends snapshots: sequence numbers, parents, carried manifests, summary totals, metadata log', async () => {
    const { store, catalog, file } = await freshTable();
    const first = await appendFiles(store, catalog, 'public.orders', {
      dataFiles: [file('a.parquet', 10), file('b.parquet', 5)],
      summary: { [SUMMARY_KEY.lsn]: '0/10', [SUMMARY_KEY.epoch]: '1' },
    });
    const second = await appendFiles(store, catalog, 'public.orders', {
      dataFiles: [file('c.parquet', 7)],
      summary: { [SUMMARY_KEY.lsn]: '0/20', [SUMMARY_KEY.epoch]: '2' },
    });
    const { metadata, metadataKey } = await loadTableMetadata(store, catalog, 'public.orders');
    assert.equal(metadataKey, second.table.metadataKey);
    assert.match(metadataKey, /\/00003-/);
    assert.equal(metadata['last-sequence-number'], 2);
    assert.equal(metadata.snapshots.length, 2);
    const [s1, s2] = metadata.snapshots;
    assert.equal(s1!['sequence-number'], 1);
    assert.equal(s2!['sequence-number'], 2);
    assert.equal(s1!['parent-snapshot-id'], undefined);
    assert.equal(s2!['parent-snapshot-id'], first.snapshot['snapshot-id']);
    assert.equal(currentSnapshot(metadata)?.['snapshot-id'], second.snapshot['snapshot-id']);
    assert.deepEqual(metadata.refs.main, { 'snapshot-id': second.snapshot['snapshot-id'], type: 'branch' });
    assert.equal(metadata['snapshot-log'].length, 2);
    assert.equal(metadata['metadata-log'].length, 2);
    assert.equal(metadata['metadata-log'][1]!['metadata-file'], first.table.metadataLocation);
    assert.deepEqual(
      { ...s2!.summary },
      {
        operation: 'append',
        [SUMMARY_KEY.lsn]: '0/20',
        [SUMMARY_KEY.epoch]: '2',
        'added-data-files': '1',
        'added-records': '7',
        'added-files-size': '1007',
        'changed-partition-count': '1',
        'total-records': '22',
        'total-files-size': '3022',
        'total-data-files': '3',
        'total-delete-files': '0',
        'total-position-deletes': '0',
        'total-equality-deletes': '0',
      },
    );

    const list = decodeManifestList((await store.get(store.keyOf(s2!['manifest-list'])!))!);
    assert.deepEqual(
      list.map((m) => [m.sequence_number, m.added_snapshot_id, m.added_files_count, m.added_rows_count]),
      [
        [2n, s2!['snapshot-id'], 1, 7n],
        [1n, s1!['snapshot-id'], 2, 15n],
      ],
    );
    const entries = decodeManifest((await store.get(store.keyOf(list[1]!.manifest_path)!))!);
    assert.deepEqual(
      entries.map((e) => [e.status, e.snapshot_id, e.sequence_number, e.data_file.file_path, e.data_file.record_count]),
      [
        [1, s1!['snapshot-id'], 1n, file('a.parquet', 0).path, 10n],
        [1, s1!['snapshot-id'], 1n, file('b.parquet', 0).path, 5n],
      ],
    );
    assert.equal(findSnapshotByProperty(metadata, SUMMARY_KEY.lsn, '0/10')?.['snapshot-id'], s1!['snapshot-id']);
    assert.equal(findSnapshotByProperty(metadata, SUMMARY_KEY.epoch)?.['snapshot-id'], s2!['snapshot-id']);
    assert.equal(findSnapshotByProperty(metadata, SUMMARY_KEY.lsn, '0/30'), undefined);
  });

  it('keeps 63-bit snapshot ids exact through metadata JSON', async () => {
    const { store, catalog, file } = await freshTable();
    const snapshotId = 0x7fff_ffff_ffff_fff0n;
    await appendFiles(store, catalog, 'public.orders', { dataFiles: [file('a.parquet', 1)], snapshotId });
    const { metadata, metadataKey } = await loadTableMetadata(store, catalog, 'public.orders');
    assert.equal(metadata['current-snapshot-id'], snapshotId);
    assert.match(decodeUtf8((await store.get(metadataKey))!), /"current-snapshot-id": 9223372036854775792\b/);
    assert.equal(
      parseTableMetadata(decodeUtf8((await store.get(metadataKey))!), 'x').snapshots[0]!['snapshot-id'],
      snapshotId,
    );
    for (let i = 0; i < 100; i++) {
      const id = randomSnapshotId();
      assert.ok(id > 0n && id < 2n ** 63n);
    }
  });

  it('is idempotent for a caller-chosen snapshot id', async () => {
    const { store, catalog, file } = await freshTable();
    const snapshotId = 12345n;
    const once = await appendFiles(store, catalog, 'public.orders', { dataFiles: [file('a.parquet', 3)], snapshotId });
    const again = await appendFiles(store, catalog, 'public.orders', { dataFiles: [file('a.parquet', 3)], snapshotId });
    assert.equal(once.committed, true);
    assert.equal(again.committed, false);
    assert.equal(again.snapshot['snapshot-id'], snapshotId);
    assert.equal((await loadTableMetadata(store, catalog, 'public.orders')).metadata.snapshots.length, 1);
  });

  it('writes position delete files into a deletes manifest', async () => {
    const { store, catalog, file } = await freshTable();
    await appendFiles(store, catalog, 'public.orders', { dataFiles: [file('a.parquet', 10)] });
    const result = await appendFiles(store, catalog, 'public.orders', {
      dataFiles: [file('b.parquet', 2), file('a-deletes.parquet', 3, 1)],
    });
    const summary = result.snapshot.summary;
    assert.equal(summary.operation, 'overwrite');
    assert.equal(summary['added-position-deletes'], '3');
    assert.equal(summary['total-records'], '12');
    assert.equal(summary['total-delete-files'], '1');
    const list = decodeManifestList((await store.get(store.keyOf(result.snapshot['manifest-list'])!))!);
    assert.deepEqual(
      list.map((m) => m.content),
      [0, 1, 0],
    );
    const deletes = decodeManifest((await store.get(store.keyOf(list[1]!.manifest_path)!))!);
    assert.equal(deletes[0]!.data_file.content, 1);
  });

  it('two concurrent appends to one table: one commits, the loser gets COMMIT_CONFLICT and leaves no files', async () => {
    const { store, catalog, file } = await freshTable();
    const results = await Promise.allSettled([
      appendFiles(store, catalog, 'public.orders', { dataFiles: [file('a.parquet', 1)] }),
      appendFiles(store, catalog, 'public.orders', { dataFiles: [file('b.parquet', 1)] }),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const lost = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.ok(lost?.reason instanceof CommitConflictError);
    assert.equal(lost.reason.context.table, 'public.orders');
    const metadataFiles = readdirSync(join(store.root, 'public', 'orders', 'metadata'));
    // v1 metadata + the winner's metadata, manifest list and manifest.
    assert.equal(metadataFiles.length, 4, metadataFiles.join(', '));
    assert.equal((await loadTableMetadata(store, catalog, 'public.orders')).metadata.snapshots.length, 1);
  });

  it('refuses to create a table twice and cleans up the unused metadata file', async () => {
    const { store, catalog } = await freshTable();
    await assert.rejects(
      createTable(store, catalog, { identifier: 'public.orders', location: 'public/orders', schema }),
      (error: unknown) => (error as { code?: string }).code === 'TABLE_EXISTS',
    );
    assert.equal(readdirSync(join(store.root, 'public', 'orders', 'metadata')).length, 1);
  });
});
