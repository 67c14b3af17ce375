import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalCatalog } from '../../lake/catalog/local.js';
import { LakeFormatError } from '../../lake/errors.js';
import { encodeManifest, encodeManifestList } from '../../lake/iceberg/avro.js';
import { serializeTableMetadata, withSnapshot, type Snapshot } from '../../lake/iceberg/metadata.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import { appendFiles, createTable, loadTableMetadata, type DataFile } from '../../lake/iceberg/table.js';
import { openDuckDB, type OpenDuckDB } from '../../lake/parquet/writer.js';
import { currentDataFiles, SnapshotNotFoundError } from '../../lake/reader.js';
import { FilesystemObjectStore } from '../../lake/storage/filesystem.js';

const root = mkdtempSync(join(tmpdir(), 'pg-cdc-lake-reader-'));
let duck: OpenDuckDB;
before(async () => (duck = await openDuckDB({ threads: 1 })));
after(() => {
  duck.close();
  rmSync(root, { recursive: true, force: true });
});

const schema: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  'identifier-field-ids': [1],
  fields: [
    { id: 1, name: 'id', required: true, type: 'long' },
    { id: 2, name: 'name', required: false, type: 'string' },
  ],
};

let n = 0;
async function freshTable() {
  const store = new FilesystemObjectStore(join(root, `s${++n}`));
  const catalog = new LocalCatalog(store);
  await createTable(store, catalog, { identifier: 'public.people', location: 'public/people', schema });
  /** A real Parquet file with ids from..to, made by DuckDB. */
  const parquet = async (name: string, from: number, to: number, content?: 0 | 1): Promise<DataFile> => {
    const key = `public/people/data/${name}`;
    const path = store.localPath(key);
    mkdirSync(dirname(path), { recursive: true });
    await duck.connection.run(
      `COPY (SELECT range::BIGINT AS id, 'p' || range AS name FROM range(${from}, ${to + 1})) TO '${path}' ` +
        '(FORMAT parquet, FIELD_IDS {id: 1, name: 2})',
    );
    const size = statSync(path).size;
    return { path: store.uri(key), recordCount: to - from + 1, fileSizeInBytes: size, ...(content ? { content } : {}) };
  };
  return { store, catalog, parquet };
}

async function countRows(paths: readonly (string | undefined)[]): Promise<number> {
  const list = paths.map((p) => `'${p!}'`).join(', ');
  const reader = await duck.connection.runAndReadAll(`SELECT count(*)::INTEGER FROM read_parquet([${list}])`);
  return reader.getRowsJson()[0]![0] as number;
}

describe('lake reader: the live files of a snapshot', () => {
  it('a table without a snapshot has no files, and the current schema', async () => {
    const { store, catalog } = await freshTable();
    const files = await currentDataFiles(store, catalog, 'public.people');
    assert.equal(files.snapshot, undefined);
    assert.deepEqual(files.dataFiles, []);
    assert.deepEqual(files.deleteFiles, []);
    assert.deepEqual(files.schema, schema);
  });

  it('lists the files of the current snapshot and of an earlier one, with local paths DuckDB reads', async () => {
    const { store, catalog, parquet } = await freshTable();
    const a = await parquet('a.parquet', 1, 3);
    const first = await appendFiles(store, catalog, 'public.people', { dataFiles: [a] });
    const b = await parquet('b.parquet', 4, 8);
    const second = await appendFiles(store, catalog, 'public.people', { dataFiles: [b] });

    const current = await currentDataFiles(store, catalog, 'public.people');
    assert.equal(current.snapshot?.['snapshot-id'], second.snapshot['snapshot-id']);
    assert.deepEqual(current.dataFiles.map((f) => f.path).sort(), [a.path, b.path]);
    assert.deepEqual(current.dataFiles.map((f) => f.recordCount).sort(), [3, 5]);
    for (const file of current.dataFiles) {
      assert.equal(file.content, 0);
      assert.equal(file.localPath, store.localPath(store.keyOf(file.path)!));
    }
    assert.equal(await countRows(current.dataFiles.map((f) => f.localPath)), 8);

    const earlier = await currentDataFiles(store, catalog, 'public.people', {
      snapshotId: first.snapshot['snapshot-id'],
    });
    assert.equal(earlier.snapshot?.['snapshot-id'], first.snapshot['snapshot-id']);
    assert.deepEqual(
      earlier.dataFiles.map((f) => f.path),
      [a.path],
    );
    assert.equal(await countRows(earlier.dataFiles.map((f) => f.localPath)), 3);
  });

  it('lists position-delete files apart from data files', async () => {
    const { store, catalog, parquet } = await freshTable();
    const a = await parquet('a.parquet', 1, 4);
    await appendFiles(store, catalog, 'public.people', { dataFiles: [a] });
    const deletes = await parquet('a-deletes.parquet', 1, 2, 1);
    await appendFiles(store, catalog, 'public.people', { dataFiles: [deletes] });
    const files = await currentDataFiles(store, catalog, 'public.people');
    assert.deepEqual(
      files.dataFiles.map((f) => f.path),
      [a.path],
    );
    assert.deepEqual(
      files.deleteFiles.map((f) => [f.path, f.content, f.recordCount]),
      [[deletes.path, 1, 2]],
    );
  });

  it('keeps ADDED and EXISTING entries and skips DELETED ones', async () => {
    const { store, catalog, parquet } = await freshTable();
    const [kept, existing, gone] = await Promise.all([
      parquet('kept.parquet', 1, 2),
      parquet('existing.parquet', 3, 3),
      parquet('gone.parquet', 4, 9),
    ]);
    // A hand-written snapshot whose manifest has all three statuses, as a rewrite by another writer would have.
    const table = await loadTableMetadata(store, catalog, 'public.people');
    const record = (file: DataFile) => ({
      content: 0,
      file_path: file.path,
      file_format: 'PARQUET',
      partition: {},
      record_count: file.recordCount,
      file_size_in_bytes: file.fileSizeInBytes,
      column_sizes: null,
      value_counts: null,
      null_value_counts: null,
      nan_value_counts: null,
      lower_bounds: null,
      upper_bounds: null,
      key_metadata: null,
      split_offsets: null,
      equality_ids: null,
      sort_order_id: null,
    });
    const entry = (status: 0 | 1 | 2, file: DataFile) => ({
      status,
      snapshot_id: 7n,
      sequence_number: 1n,
      file_sequence_number: 1n,
      data_file: record(file),
    });
    const manifest = encodeManifest({
      schema,
      content: 'data',
      entries: [entry(1, kept), entry(0, existing), entry(2, gone)],
    });
    await store.put('public/people/metadata/m.avro', manifest);
    const list = encodeManifestList({
      snapshotId: 7n,
      parentSnapshotId: undefined,
      sequenceNumber: 1,
      manifests: [
        {
          manifest_path: store.uri('public/people/metadata/m.avro'),
          manifest_length: manifest.byteLength,
          partition_spec_id: 0,
          content: 0,
          sequence_number: 1n,
          min_sequence_number: 1n,
          added_snapshot_id: 7n,
          added_files_count: 1,
          existing_files_count: 1,
          deleted_files_count: 1,
          added_rows_count: 2n,
          existing_rows_count: 1n,
          deleted_rows_count: 6n,
          partitions: [],
          key_metadata: null,
        },
      ],
    });
    await store.put('public/people/metadata/snap-7.avro', list);
    const snapshot: Snapshot = {
      'snapshot-id': 7n,
      'sequence-number': 1,
      'timestamp-ms': Date.now(),
      'manifest-list': store.uri('public/people/metadata/snap-7.avro'),
      summary: { operation: 'overwrite' },
      'schema-id': 0,
    };
    const metadataKey = 'public/people/metadata/00002-hand.metadata.json';
    await store.put(
      metadataKey,
      serializeTableMetadata(withSnapshot(table.metadata, snapshot, table.metadataLocation)),
    );
    await catalog.commitTable('public.people', table.metadataKey, metadataKey);

    const files = await currentDataFiles(store, catalog, 'public.people');
    assert.deepEqual(files.dataFiles.map((f) => f.path).sort(), [existing.path, kept.path]);
    assert.equal(await countRows(files.dataFiles.map((f) => f.localPath)), 3);
  });

  it('names the table and the snapshots it has when the snapshot id is unknown', async () => {
    const { store, catalog, parquet } = await freshTable();
    const result = await appendFiles(store, catalog, 'public.people', {
      dataFiles: [await parquet('a.parquet', 1, 1)],
    });
    await assert.rejects(
      currentDataFiles(store, catalog, 'public.people', { snapshotId: 42n }),
      (error: unknown) =>
        error instanceof SnapshotNotFoundError &&
        /public\.people has no snapshot 42/.test(error.message) &&
        (error.hint ?? '').includes(String(result.snapshot['snapshot-id'])),
    );
  });

  it('reports a missing manifest as a corrupt lake, naming the file', async () => {
    const { store, catalog, parquet } = await freshTable();
    const result = await appendFiles(store, catalog, 'public.people', {
      dataFiles: [await parquet('a.parquet', 1, 1)],
    });
    await store.delete(store.keyOf(result.snapshot['manifest-list'])!);
    await assert.rejects(
      currentDataFiles(store, catalog, 'public.people'),
      (error: unknown) => error instanceof LakeFormatError && error.context.file === result.snapshot['manifest-list'],
    );
  });
});
