import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Locator, type LocatorKey } from '../../lake/state/locator.js';

describe('Locator: many rows per statement', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-cdc-locator-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [kind, keyOf] of [
    ['integer', (i: number): LocatorKey => BigInt(i) * 1_000_000_007n],
    ['text', (i: number): LocatorKey => `k|${i}|é`],
  ] as const) {
    it(`adds and finds ${kind} keys in bulk exactly as one at a time`, () => {
      const locator = Locator.open(join(dir, `${kind}.sqlite`));
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
  }
});
