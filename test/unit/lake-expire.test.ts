import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LocalCatalog } from '../../lake/catalog/local.js';
import { expireSnapshots, planExpiry } from '../../lake/iceberg/expire.js';
import { removeOrphanFiles } from '../../lake/iceberg/orphans.js';
import { METADATA_LOG_MAX_PROPERTY } from '../../lake/iceberg/metadata.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import { appendFiles, commitMetadata, createTable, loadTableMetadata } from '../../lake/iceberg/table.js';
import { FilesystemObjectStore } from '../../lake/storage/filesystem.js';

const root = mkdtempSync(join(tmpdir(), 'pg-cdc-lake-expire-'));
after(() => rmSync(root, { recursive: true, force: true }));

const schema: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  fields: [{ id: 1, name: 'id', required: true, type: 'long' }],
};

let n = 0;
async function tableWithSnapshots(epochs: number, properties: Record<string, string> = {}) {
  const store = new FilesystemObjectStore(join(root, `s${++n}`));
  const catalog = new LocalCatalog(store);
  await createTable(store, catalog, { identifier: 'public.t', location: 'public/t', schema, properties });
  const files: string[] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const key = `public/t/data/e${epoch}.parquet`;
    await store.put(key, 'x');
    files.push(key);
    await appendFiles(store, catalog, 'public.t', {
      dataFiles: [{ path: store.uri(key), recordCount: 1, fileSizeInBytes: 1 }],
      // A truncate at epoch 3: the files of epochs 1 and 2 are live only in snapshots 1 and 2.
      replaceAll: epoch === 3,
    });
  }
  return { store, catalog, files };
}

describe('snapshot expiry', () => {
  it('keeps the newest snapshots, the current one and every ref, and trims the log without gaps', async () => {
    const { store, catalog } = await tableWithSnapshots(5);
    const { metadata } = await loadTableMetadata(store, catalog, 'public.t');
    const ids = metadata.snapshots.map((s) => s['snapshot-id']);
    const tagged = {
      ...metadata,
      refs: { ...metadata.refs, 'raw@1': { 'snapshot-id': ids[0]!, type: 'tag' as const } },
    };
    const plan = planExpiry(tagged, { retainLast: 2 });
    assert.deepEqual(
      plan.metadata.snapshots.map((s) => s['snapshot-id']),
      [ids[0], ids[3], ids[4]],
    );
    assert.deepEqual(
      plan.expired.map((s) => s['snapshot-id']),
      [ids[1], ids[2]],
    );
    // The log restarts after the newest expired entry: time travel never lands in a hole.
    assert.deepEqual(
      plan.metadata['snapshot-log'].map((e) => e['snapshot-id']),
      [ids[3], ids[4]],
    );
    assert.throws(() => planExpiry(metadata, { retainLast: 0 }), /retainLast/);
  });

  it('commits the expiry, then deletes only the files no kept snapshot reaches', async () => {
    const { store, catalog, files } = await tableWithSnapshots(5);
    const before = await loadTableMetadata(store, catalog, 'public.t');
    const dry = await expireSnapshots(store, catalog, 'public.t', { retainLast: 2, dryRun: true });
    assert.equal(dry.committed, false);
    assert.equal(dry.expiredSnapshots, 3);
    assert.equal((await loadTableMetadata(store, catalog, 'public.t')).metadataKey, before.metadataKey);
    for (const file of files) assert.ok(await store.exists(file), `dry run kept ${file}`);

    const result = await expireSnapshots(store, catalog, 'public.t', { retainLast: 2 });
    assert.equal(result.committed, true);
    assert.equal(result.expiredSnapshots, 3);
    assert.equal(result.keptSnapshots, 2);
    // Epochs 1 and 2 were truncated away at epoch 3 and live only in expired snapshots.
    assert.equal(result.deletedDataFiles, 2);
    assert.equal(await store.exists(files[0]!), false);
    assert.equal(await store.exists(files[1]!), false);
    for (const file of files.slice(2)) assert.ok(await store.exists(file), `${file} is still live`);

    const afterLoad = await loadTableMetadata(store, catalog, 'public.t');
    assert.equal(afterLoad.metadata.snapshots.length, 2);
    assert.equal(afterLoad.metadata['current-snapshot-id'], before.metadata['current-snapshot-id']);
    // Every manifest list and manifest the kept snapshots name is still there.
    for (const snapshot of afterLoad.metadata.snapshots) {
      assert.ok(await store.exists(store.keyOf(snapshot['manifest-list'])!), 'kept manifest list');
    }
    const again = await expireSnapshots(store, catalog, 'public.t', { retainLast: 2 });
    assert.equal(again.committed, false);
    assert.equal(again.deletedDataFiles, 0);
  });

  it('keeps the files a tag still reaches when the snapshot that removed them expires', async () => {
    // A tag on snapshot 1 keeps epoch 1's file reachable although the truncate of snapshot 3, which removed it,
    // expires: only a walk of what is kept finds that, not the removals of the expired snapshots alone.
    const { store, catalog, files } = await tableWithSnapshots(5);
    const table = await loadTableMetadata(store, catalog, 'public.t');
    const first = table.metadata.snapshots[0]!['snapshot-id'];
    await commitMetadata(store, catalog, table, {
      ...table.metadata,
      refs: { ...table.metadata.refs, 'raw@1': { 'snapshot-id': first, type: 'tag' } },
    });
    const result = await expireSnapshots(store, catalog, 'public.t', { retainLast: 2 });
    assert.equal(result.expiredSnapshots, 2);
    assert.equal(result.deletedDataFiles, 1);
    assert.ok(await store.exists(files[0]!), 'the tagged snapshot still reads epoch 1');
    assert.equal(await store.exists(files[1]!), false);
    const kept = await loadTableMetadata(store, catalog, 'public.t');
    assert.ok(await store.exists(store.keyOf(kept.metadata.snapshots[0]!['manifest-list'])!), 'the tag keeps its list');
  });

  it('prunes metadata JSON versions past write.metadata.previous-versions-max', async () => {
    const { store, catalog } = await tableWithSnapshots(6, { [METADATA_LOG_MAX_PROPERTY]: '2' });
    const metadataFiles = async () => (await store.list('public/t/metadata/')).filter((k) => k.endsWith('.json'));
    assert.equal((await metadataFiles()).length, 7);
    const result = await expireSnapshots(store, catalog, 'public.t', { retainLast: 10 });
    assert.equal(result.expiredSnapshots, 0);
    const left = await metadataFiles();
    // The current file and the two the log still lists.
    assert.equal(left.length, 3);
    const { metadata, metadataKey } = await loadTableMetadata(store, catalog, 'public.t');
    assert.ok(left.includes(metadataKey));
    for (const entry of metadata['metadata-log']) assert.ok(left.includes(store.keyOf(entry['metadata-file'])!));
  });
});

describe('orphan files', () => {
  it('deletes what nothing references once it is older than the grace period, and keeps everything else', async () => {
    const { store, catalog, files } = await tableWithSnapshots(3);
    // A crashed commit's leftovers: a data file and a manifest nothing names. One old, one just written.
    await store.put('public/t/data/crashed-old.parquet', 'x');
    await store.put('public/t/metadata/crashed-old-m0.avro', 'x');
    await store.put('public/t/data/in-flight.parquet', 'x');
    const hourAgo = Date.now() / 1000 - 3600;
    for (const key of ['public/t/data/crashed-old.parquet', 'public/t/metadata/crashed-old-m0.avro']) {
      utimesSync(store.localPath(key), hourAgo, hourAgo);
    }
    const dry = await removeOrphanFiles(store, catalog, 'public.t', { graceMs: 60_000, dryRun: true });
    assert.equal(dry.candidates, 3);
    assert.deepEqual([...dry.deleted].sort(), [
      'public/t/data/crashed-old.parquet',
      'public/t/metadata/crashed-old-m0.avro',
    ]);
    assert.ok(await store.exists('public/t/data/crashed-old.parquet'), 'a dry run deletes nothing');

    const swept = await removeOrphanFiles(store, catalog, 'public.t', { graceMs: 60_000 });
    assert.equal(swept.deleted.length, 2);
    assert.equal(await store.exists('public/t/data/crashed-old.parquet'), false);
    assert.ok(await store.exists('public/t/data/in-flight.parquet'), 'a file younger than the grace period stays');
    for (const file of files) assert.ok(await store.exists(file), `${file} is referenced`);
    const { metadata, metadataKey } = await loadTableMetadata(store, catalog, 'public.t');
    assert.ok(await store.exists(metadataKey));
    for (const snapshot of metadata.snapshots) assert.ok(await store.exists(store.keyOf(snapshot['manifest-list'])!));
  });
});
