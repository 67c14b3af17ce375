/**
 * `raw@<time>` tags without a server: each tagged commit adds one on its snapshot, tags never move, retention drops
 * those beyond the newest `keep` and those older than the maximum age, expiry keeps what a tag names, and a time
 * between two tags reads the older one.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import { LocalCatalog } from '../../lake/catalog/local.js';
import { planExpiry } from '../../lake/iceberg/expire.js';
import type { Snapshot, TableMetadata } from '../../lake/iceberg/metadata.js';
import { rawTagAtOrBefore, rawTagName, rawTags, withRawTag } from '../../lake/iceberg/raw-tags.js';
import { appendFiles, createTable, loadTableMetadata } from '../../lake/iceberg/table.js';
import { FilesystemObjectStore } from '../../lake/storage/filesystem.js';

const root = mkdtempSync(join(tmpdir(), 'pg-cdc-raw-tags-'));
after(() => rmSync(root, { recursive: true, force: true }));

const schema: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  fields: [{ id: 1, name: 'id', required: true, type: 'long' }],
};

const HOUR = 3_600_000;
const snapshot = (id: number, timestampMs: number): Snapshot =>
  ({ 'snapshot-id': BigInt(id), 'timestamp-ms': timestampMs }) as unknown as Snapshot;
const empty = { refs: {} } as unknown as TableMetadata;

describe('raw tags', () => {
  it('tag each snapshot by its time and keep the newest `keep`', () => {
    let metadata = empty;
    const t0 = Date.parse('2026-03-01T10:00:00.000Z');
    for (let i = 0; i < 5; i++) {
      metadata = withRawTag(metadata, snapshot(i + 1, t0 + i * 1_000), { keep: 3, maxAgeMs: HOUR }, t0 + 5_000);
    }
    assert.deepEqual(
      rawTags(metadata).map((t) => [t.name, t.snapshotId]),
      [
        ['raw@2026-03-01T10:00:04.000Z', 5n],
        ['raw@2026-03-01T10:00:03.000Z', 4n],
        ['raw@2026-03-01T10:00:02.000Z', 3n],
      ],
    );
    assert.equal(metadata.refs['raw@2026-03-01T10:00:04.000Z']?.type, 'tag');
    assert.equal(metadata.refs['raw@2026-03-01T10:00:04.000Z']?.['max-ref-age-ms'], HOUR);
  });

  it('drops tags older than the maximum age, and never moves one', () => {
    const t0 = Date.parse('2026-03-01T10:00:00.000Z');
    let metadata = withRawTag(empty, snapshot(1, t0), { keep: 10, maxAgeMs: HOUR }, t0);
    metadata = withRawTag(metadata, snapshot(2, t0 + HOUR / 2), { keep: 10, maxAgeMs: HOUR }, t0 + HOUR / 2);
    // A second commit in the same millisecond: the name stays on its first snapshot.
    metadata = withRawTag(metadata, snapshot(3, t0 + HOUR / 2), { keep: 10, maxAgeMs: HOUR }, t0 + HOUR / 2);
    assert.equal(metadata.refs[rawTagName(t0 + HOUR / 2)]?.['snapshot-id'], 2n);
    metadata = withRawTag(metadata, snapshot(4, t0 + HOUR + 1), { keep: 10, maxAgeMs: HOUR }, t0 + HOUR + 1);
    assert.deepEqual(
      rawTags(metadata).map((t) => t.snapshotId),
      [4n, 2n],
    );
  });

  it('keep 0 tags nothing and drops the tags there are', () => {
    const t0 = Date.parse('2026-03-01T10:00:00.000Z');
    const tagged = withRawTag(empty, snapshot(1, t0), { keep: 5, maxAgeMs: HOUR }, t0);
    const none = withRawTag(tagged, snapshot(2, t0 + 1), { keep: 0, maxAgeMs: HOUR }, t0 + 1);
    assert.deepEqual(none.refs, {});
  });

  it('read a time between two tags as the older one, and none before the oldest', () => {
    const t0 = Date.parse('2026-03-01T10:00:00.000Z');
    let metadata = withRawTag(empty, snapshot(1, t0), { keep: 5, maxAgeMs: HOUR }, t0);
    metadata = withRawTag(metadata, snapshot(2, t0 + 10_000), { keep: 5, maxAgeMs: HOUR }, t0 + 10_000);
    assert.equal(rawTagAtOrBefore(metadata, t0 + 9_999)?.snapshotId, 1n);
    assert.equal(rawTagAtOrBefore(metadata, t0 + 10_000)?.snapshotId, 2n);
    assert.equal(rawTagAtOrBefore(metadata, t0 - 1), undefined);
  });

  it('are committed with the snapshot they name, and go with it when expiry drops it', async () => {
    const store = new FilesystemObjectStore(join(root, 'commit'));
    const catalog = new LocalCatalog(store);
    await createTable(store, catalog, { identifier: 'public.t', location: 'public/t', schema });
    const retention = { keep: 2, maxAgeMs: 24 * HOUR };
    for (let i = 0; i < 4; i++) {
      await appendFiles(store, catalog, 'public.t', { dataFiles: [], rawTag: retention });
      // Tags are named to the millisecond: two commits in one would share a name, which keeps the first.
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await appendFiles(store, catalog, 'public.t', { dataFiles: [] });
    const { metadata } = await loadTableMetadata(store, catalog, 'public.t');
    const tags = rawTags(metadata);
    assert.equal(tags.length, 2);
    const bySequence = [...metadata.snapshots].sort((a, b) => a['sequence-number'] - b['sequence-number']);
    const tagged = new Set(tags.map((t) => t.snapshotId));
    assert.deepEqual(
      bySequence.map((s) => tagged.has(s['snapshot-id'])),
      [false, false, true, true, false],
      'the two newest tagged commits keep their tags; the untagged commit adds none',
    );
    for (const tag of tags) {
      const named = metadata.snapshots.find((s) => s['snapshot-id'] === tag.snapshotId)!;
      assert.equal(tag.name, rawTagName(named['timestamp-ms']));
    }
    // Expiry keeps the newest two: the untagged head and the newest tag's snapshot. The older tag never holds its
    // snapshot past them: it goes with it.
    const { metadata: expired } = planExpiry(metadata, { retainLast: 2 });
    assert.deepEqual(
      expired.snapshots.map((s) => s['snapshot-id']),
      bySequence.slice(3).map((s) => s['snapshot-id']),
    );
    assert.deepEqual(
      rawTags(expired).map((t) => t.snapshotId),
      [bySequence[3]!['snapshot-id']],
    );
    assert.ok(expired.refs.main, 'branches stay');
  });
});
