/**
 * Pruning a versioned document behind its floor (lake/versioned.ts) and choosing the floor (lake/retention.ts): old
 * versions go, the latest is still found without listing them, a version below the floor reads as pruned, a crash
 * between the floor and the deletes hides what it left, and a writer that built on a pruned version cannot bring it
 * back.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CommitConflictError, VersionPrunedError } from '../../lake/errors.js';
import type { JsonValue } from '../../lake/json.js';
import { firstKept, pruneVersions, retentionFloor } from '../../lake/retention.js';
import { FilesystemObjectStore } from '../../lake/storage/filesystem.js';
import { VersionedDocument } from '../../lake/versioned.js';

const root = mkdtempSync(join(tmpdir(), 'pg-cdc-lake-prune-'));
after(() => rmSync(root, { recursive: true, force: true }));

const decode = (raw: JsonValue): number => {
  if (typeof raw !== 'number') throw new TypeError('not a number');
  return raw;
};

/** A store that counts its listings by prefix, so a test can see which directories were listed. */
class CountingStore extends FilesystemObjectStore {
  readonly listed: string[] = [];
  override list(prefix: string): Promise<string[]> {
    this.listed.push(prefix);
    return super.list(prefix);
  }
}

let n = 0;
async function documentOf(versions: number) {
  const store = new CountingStore(join(root, `s${++n}`));
  const doc = new VersionedDocument<number>(store, 'docs/counter', decode);
  let version: number | undefined;
  for (let i = 1; i <= versions; i++) version = await doc.commit(version, i);
  const versionFiles = async () =>
    (await store.list('docs/counter/'))
      .filter((key) => /\/v\d+\.json$/.test(key))
      .map((key) => Number(/\d+/.exec(key.slice(13))![0]));
  return { store, doc, versionFiles };
}

const floorKey = (floor: number) => `docs/counter/floor/${String(floor).padStart(10, '0')}`;

describe('pruning a versioned document', () => {
  it('deletes the versions below the floor; the latest still reads and v<N> below it is VERSION_PRUNED', async () => {
    const { doc, versionFiles } = await documentOf(10);
    assert.deepEqual(await doc.prune(7), { floor: 7, deleted: 6 });
    assert.deepEqual(await versionFiles(), [7, 8, 9, 10]);
    assert.equal(await doc.floor(), 7);
    assert.deepEqual(await doc.read(), { version: 10, value: 10 });
    assert.equal(await doc.readVersion(7), 7);
    await assert.rejects(doc.readVersion(3), (error: unknown) => {
      assert.ok(error instanceof VersionPrunedError);
      assert.equal(error.code, 'VERSION_PRUNED');
      assert.deepEqual(error.context, { document: 'docs/counter', version: 3, oldest: 7 });
      assert.match(error.hint ?? '', /read v7 or a later version/);
      return true;
    });
    // Commits go on above the floor.
    assert.equal(await doc.commit(10, 11), 11);
  });

  it('never prunes the latest version, never lowers the floor, and keeps one marker', async () => {
    const { store, doc, versionFiles } = await documentOf(5);
    assert.deepEqual(await doc.prune(50), { floor: 5, deleted: 4 });
    assert.deepEqual(await versionFiles(), [5]);
    assert.deepEqual(await doc.prune(2), { floor: 5, deleted: 0 });
    assert.equal(await doc.floor(), 5);
    // Two prunes at once write their markers in either order: the highest one is the floor, the other goes later.
    await doc.commit(5, 6);
    await doc.commit(6, 7);
    await store.put(floorKey(7), '');
    await store.put(floorKey(6), '');
    assert.equal(await doc.floor(), 7);
    await doc.prune(7);
    assert.deepEqual(await store.list('docs/counter/floor/'), [floorKey(7)]);
  });

  it('finds the latest from the floor or the hint without listing the versions', async () => {
    const { store, doc } = await documentOf(40);
    await doc.prune(30);
    await store.delete('docs/counter/version-hint.text');
    store.listed.length = 0;
    assert.deepEqual(await doc.read(), { version: 40, value: 40 });
    assert.deepEqual(store.listed, ['docs/counter/floor/'], 'only the floor markers are listed');
    // A hint left below the floor (a writer that stalled before writing it) is passed over.
    await store.put('docs/counter/version-hint.text', '12');
    assert.equal((await doc.read())?.version, 40);
  });

  it('a crash between the floor and the deletes leaves versions nobody reads, and the next prune deletes them', async () => {
    const { store, doc, versionFiles } = await documentOf(8);
    // The floor marker is written, then the process dies before deleting anything.
    await store.put(floorKey(6), '');
    assert.deepEqual(await versionFiles(), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(await doc.read(), { version: 8, value: 8 });
    await assert.rejects(doc.readVersion(2), VersionPrunedError, 'below the floor, even while the file exists');
    // Its deletes went oldest first: a crash half-way left a run of the newest below the floor.
    await store.delete('docs/counter/v0000000001.json');
    assert.deepEqual(await doc.prune(6), { floor: 6, deleted: 4 });
    assert.deepEqual(await versionFiles(), [6, 7, 8]);
  });

  it('a writer that built on a pruned version cannot resurrect it: conflict, its file taken back, then a retry on the latest', async () => {
    const { doc, versionFiles } = await documentOf(10);
    const stale = await doc.read(); // version 10
    for (let v = 10; v < 20; v++) await doc.commit(v, v + 1);
    await doc.prune(18);
    // A writer that read version 3 long ago, and every later one, is gone: version 4's name is free again.
    await assert.rejects(doc.commit(3, 999), (error: unknown) => {
      assert.ok(error instanceof CommitConflictError);
      assert.deepEqual(error.context, { document: 'docs/counter', expected: 3, actual: 20 });
      return true;
    });
    assert.deepEqual(await versionFiles(), [18, 19, 20], 'the re-created version 4 was taken back');
    assert.equal(stale?.version, 10);
    await assert.rejects(doc.commit(stale.version, 999), CommitConflictError);
    // An update that lost its race re-reads: it builds on the latest, never on anything below the floor.
    let seen: number | undefined;
    const updated = await doc.update((current) => ((seen = current?.version), (current?.value ?? 0) + 1));
    assert.equal(seen, 20);
    assert.deepEqual(updated, { version: 21, value: 21 });
  });

  it('prunes and writers at once: every update lands, the highest floor wins, nothing above it is missing', async () => {
    const { doc, versionFiles } = await documentOf(50);
    await Promise.all([
      ...Array.from({ length: 5 }, () => doc.update((current) => (current?.value ?? 0) + 1, { retries: 100 })),
      doc.prune(20),
      doc.prune(40),
      doc.prune(30),
    ]);
    assert.deepEqual(await doc.read(), { version: 55, value: 55 });
    assert.equal(await doc.floor(), 40);
    assert.deepEqual(
      await versionFiles(),
      Array.from({ length: 16 }, (_, i) => 40 + i),
    );
  });

  it('a document whose oldest kept version is gone is damaged, not empty', async () => {
    const { store, doc } = await documentOf(6);
    await doc.prune(4);
    await store.delete('docs/counter/v0000000004.json');
    await store.delete('docs/counter/version-hint.text');
    await assert.rejects(doc.read(), (error: unknown) => (error as { code?: string }).code === 'LAKE_CORRUPT');
  });
});

describe('version retention', () => {
  it('keeps the newest retainLast, the young ones and what keepFrom names, and moves at most maxPerRun', async () => {
    const { doc } = await documentOf(30);
    const now = Date.now() + 60_000;
    assert.equal((await retentionFloor(doc, { retainLast: 10, minAgeMs: 0, now })).floor, 21);
    assert.equal((await retentionFloor(doc, { retainLast: 10, minAgeMs: 0, now, maxPerRun: 5 })).floor, 6);
    assert.equal((await retentionFloor(doc, { retainLast: 10, minAgeMs: 3_600_000, now })).floor, 1, 'all young');
    const asked: [number, number][] = [];
    const kept = await retentionFloor(doc, {
      retainLast: 10,
      minAgeMs: 0,
      now,
      keepFrom: (from, to) => (asked.push([from, to]), Promise.resolve(14)),
    });
    assert.deepEqual(asked, [[1, 21]]);
    assert.equal(kept.floor, 14);
  });

  it('finds the young versions by their age', async () => {
    const { store, doc } = await documentOf(12);
    const { utimesSync } = await import('node:fs');
    const old = (Date.now() - 86_400_000) / 1000;
    for (let v = 1; v <= 8; v++) utimesSync(store.localPath(doc.versionKey(v)), old, old);
    const pruned = await pruneVersions(doc, { retainLast: 1, minAgeMs: 3_600_000 });
    assert.deepEqual(pruned, { floor: 9, deleted: 8, latest: 12 });
  });

  it('bisects a false-then-true predicate', async () => {
    const reads: number[] = [];
    const at = (first: number) => (v: number) => (reads.push(v), Promise.resolve(v >= first));
    assert.equal(await firstKept(1, 1000, at(700)), 700);
    assert.ok(reads.length <= 10, `${reads.length} reads`);
    assert.equal(await firstKept(1, 1000, at(5000)), 1000);
    assert.equal(await firstKept(3, 3, at(1)), 3);
  });

  it('refuses a retention that would keep nothing', async () => {
    const { doc } = await documentOf(2);
    await assert.rejects(retentionFloor(doc, { retainLast: 0, minAgeMs: 0 }), RangeError);
  });
});
