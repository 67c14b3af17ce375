import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Locator, type LakeRow, type LocatorKey } from '../../lake/state/locator.js';

const dir = mkdtempSync(join(tmpdir(), 'pg-cdc-locator-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const TAG = { tableUuid: 'u', snapshotId: '1', keySignature: 's' };

describe('Locator: many rows per statement', () => {
  it('adds and finds text keys in bulk exactly as one at a time, several rows per key', () => {
    const keyOf = (i: number): LocatorKey => `k|${i}|é`;
    const locator = Locator.open(join(dir, 'text.sqlite'));
    try {
      locator.begin();
      const first = locator.fileId('file:///lake/a.parquet');
      const second = locator.fileId('file:///lake/b.parquet');
      const count = 1000; // several full statements and a remainder
      locator.addAll(first, {
        keys: Array.from({ length: count }, (_, i) => keyOf(i)),
        positions: Array.from({ length: count }, (_, i) => i),
      });
      // Every third key also has a row in the second file (a 'full-row' multiset has several rows per key).
      for (let i = 0; i < count; i += 3) locator.add(keyOf(i), second, count - i);
      locator.commit();

      const wanted = [...Array.from({ length: 700 }, (_, i) => keyOf(i * 2)), keyOf(5_000_000)];
      const found = locator.findAll(wanted);
      for (const key of wanted) assert.deepEqual(found.get(key) ?? [], locator.find(key), `key ${String(key)}`);
      assert.equal(found.has(keyOf(5_000_000)), false);
      assert.deepEqual(found.get(keyOf(6)), [
        { fileId: first, pos: 6 },
        { fileId: second, pos: count - 6 },
      ]);
      assert.equal(locator.filePath(second), 'file:///lake/b.parquet');
    } finally {
      locator.close();
    }
  });
});

/** A small deterministic generator, so a failure names the seed that shows it. */
function random(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % n;
  };
}

describe('Locator: integer keys as runs', () => {
  const runCount = (path: string): number => {
    const db = new Database(path, { readonly: true });
    try {
      return (db.prepare('SELECT count(*) AS n FROM runs').get() as { n: number }).n;
    } finally {
      db.close();
    }
  };

  it('files a serial load as one run and a removed range as what is left of it', () => {
    const path = join(dir, 'serial.sqlite');
    const locator = Locator.open(path);
    try {
      locator.begin();
      const file = locator.fileId('file:///lake/a.parquet');
      const count = 100_000;
      locator.addAll(file, {
        keys: Array.from({ length: count }, (_, i) => BigInt(i + 1)),
        positions: Array.from({ length: count }, (_, i) => i),
      });
      locator.commit();
      assert.equal(runCount(path), 1);
      locator.begin();
      locator.removeAll(
        Array.from({ length: 1000 }, (_, i) => ({ key: BigInt(i + 501), row: { fileId: file, pos: i + 500 } })),
      );
      // A row that is not the one filed (another position) removes nothing.
      locator.remove(9n, { fileId: file, pos: 9 });
      locator.commit();
      assert.equal(runCount(path), 2);
      const found = locator.findAll([500n, 501n, 1500n, 1501n, 100_000n, 100_001n]);
      assert.deepEqual(
        [...found],
        [
          [500n, [{ fileId: file, pos: 499 }]],
          [1501n, [{ fileId: file, pos: 1500 }]],
          [100_000n, [{ fileId: file, pos: 99_999 }]],
        ],
      );
      assert.deepEqual(locator.find(10n), [{ fileId: file, pos: 9 }]);
    } finally {
      locator.close();
    }
  });

  for (const seed of [1, 2, 3]) {
    it(`agrees with a map of every key after random epochs (seed ${seed})`, () => {
      const next = random(seed);
      const locator = Locator.open(join(dir, `model-${seed}.sqlite`));
      const model = new Map<bigint, LakeRow>();
      try {
        for (let epoch = 0; epoch < 30; epoch++) {
          locator.begin();
          // Remove some filed keys (in no particular order), and a few rows that are not filed.
          const filed = [...model.keys()];
          const removals: { key: bigint; row: LakeRow }[] = [];
          const removing = next(700); // more than one statement's worth of lookups, at times
          for (let i = 0; i < removing && filed.length > 0; i++) {
            const key = filed[next(filed.length)]!;
            removals.push({ key, row: model.get(key)! });
          }
          for (let i = 0; i < 5; i++) removals.push({ key: BigInt(next(5000)), row: { fileId: 999, pos: 0 } });
          for (const { key, row } of removals) {
            const held = model.get(key);
            if (held && held.fileId === row.fileId && held.pos === row.pos) model.delete(key);
          }
          locator.removeAll(removals);
          // Write a file of keys not filed now: stretches of serial keys and scattered ones, sometimes as runs.
          const file = locator.fileId(`file:///lake/${epoch}.parquet`);
          const keys: bigint[] = [];
          for (let key = BigInt(next(5000)); keys.length < 300; key += BigInt(next(3) === 0 ? 1 + next(50) : 1)) {
            if (!model.has(key) && !keys.includes(key)) keys.push(key);
          }
          keys.forEach((key, pos) => model.set(key, { fileId: file, pos }));
          locator.addAll(file, { keys, positions: keys.map((_, pos) => pos) });
          locator.setTag(TAG);
          locator.commit();

          const probe = Array.from({ length: 400 }, () => BigInt(next(6000))).sort((a, b) =>
            a < b ? -1 : a > b ? 1 : 0,
          );
          const found = locator.findAll(probe);
          for (const key of probe) {
            const held = model.get(key);
            assert.deepEqual(found.get(key), held && [held], `seed ${seed} epoch ${epoch} key ${key}`);
          }
        }
        assert.ok(locator.matches(TAG));
      } finally {
        locator.close();
      }
    });
  }

  it('does not match a tag written by an earlier layout: it is rebuilt', () => {
    const path = join(dir, 'old.sqlite');
    const locator = Locator.open(path);
    locator.begin();
    locator.setTag(TAG);
    locator.commit();
    locator.close();
    const db = new Database(path);
    db.prepare("DELETE FROM meta WHERE name = 'format'").run();
    db.close();
    const reopened = Locator.open(path);
    try {
      assert.equal(reopened.matches(TAG), false);
    } finally {
      reopened.close();
    }
  });
});
