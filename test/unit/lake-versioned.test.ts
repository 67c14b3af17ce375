import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CommitConflictError } from '../../lake/errors.js';
import type { JsonValue } from '../../lake/json.js';
import { FilesystemObjectStore } from '../../lake/storage/filesystem.js';
import { VersionedDocument } from '../../lake/versioned.js';

const root = mkdtempSync(join(tmpdir(), 'pg-cdc-lake-versioned-'));
after(() => rmSync(root, { recursive: true, force: true }));

interface Counter {
  count: number;
  writer?: string;
}
const decodeCounter = (raw: JsonValue): Counter => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || typeof raw.count !== 'number') {
    throw new TypeError('not a counter');
  }
  return raw as unknown as Counter;
};
let n = 0;
const fresh = () => {
  const store = new FilesystemObjectStore(join(root, `s${++n}`));
  return { store, doc: new VersionedDocument<Counter>(store, 'docs/counter', decodeCounter) };
};

describe('versioned document', () => {
  it('starts empty, then reads back each committed version', async () => {
    const { doc } = fresh();
    assert.equal(await doc.read(), undefined);
    assert.equal(await doc.commit(undefined, { count: 1 }), 1);
    assert.equal(await doc.commit(1, { count: 2 }), 2);
    assert.deepEqual(await doc.read(), { version: 2, value: { count: 2 } });
    assert.deepEqual(await doc.readVersion(1), { count: 1 });
  });

  it('two commits on the same expected version: one wins, the other gets COMMIT_CONFLICT with context', async () => {
    const { doc } = fresh();
    await doc.commit(undefined, { count: 0 });
    const results = await Promise.allSettled([
      doc.commit(1, { count: 1, writer: 'a' }),
      doc.commit(1, { count: 1, writer: 'b' }),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(won.length, 1);
    assert.equal(lost.length, 1);
    const error: unknown = lost[0]!.reason;
    assert.ok(error instanceof CommitConflictError);
    assert.equal(error.code, 'COMMIT_CONFLICT');
    assert.deepEqual(error.context, { document: 'docs/counter', expected: 1, actual: 2 });
    const winner = (await doc.read())!.value.writer;
    assert.ok(winner === 'a' || winner === 'b');
  });

  it("one process's concurrent updates take turns: none loses a race, each sees the one before it", async () => {
    const { store } = fresh();
    let lost = 0;
    const counting = Object.assign(Object.create(store) as FilesystemObjectStore, {
      putIfAbsent: async (key: string, body: Uint8Array | string) => {
        const created = await store.putIfAbsent(key, body);
        if (!created) lost += 1;
        return created;
      },
    });
    // Two instances over one document, as two callers holding one lake each make their own.
    const docs = [0, 1].map(() => new VersionedDocument<Counter>(counting, 'docs/counter', decodeCounter));
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        docs[i % 2]!.update((current) => ({ count: (current?.value.count ?? 0) + 1 })),
      ),
    );
    assert.deepEqual(await docs[0]!.read(), { version: 12, value: { count: 12 } });
    assert.equal(lost, 0);
  });

  it('creating version 1 twice conflicts too', async () => {
    const { doc } = fresh();
    await doc.commit(undefined, { count: 0 });
    await assert.rejects(doc.commit(undefined, { count: 9 }), CommitConflictError);
  });

  it('orders versions numerically and survives a stale, missing or garbage hint', async () => {
    const { store, doc } = fresh();
    let version: number | undefined;
    for (let i = 1; i <= 12; i++) version = await doc.commit(version, { count: i });
    assert.equal((await doc.read())?.version, 12);
    await store.put('docs/counter/version-hint.text', '3');
    assert.deepEqual(await doc.read(), { version: 12, value: { count: 12 } }, 'stale hint: probed forward');
    await store.put('docs/counter/version-hint.text', 'garbage');
    assert.equal((await doc.read())?.version, 12, 'garbage hint: probed from version 1');
    await store.put('docs/counter/version-hint.text', '99');
    assert.equal((await doc.read())?.version, 12, 'hint ahead of the files: probed from version 1');
    await store.delete('docs/counter/version-hint.text');
    assert.equal((await doc.read())?.version, 12, 'no hint: probed from version 1');
  });

  it('update re-reads and retries until every concurrent increment lands', async () => {
    const { doc } = fresh();
    const writers = 10;
    await Promise.all(
      Array.from({ length: writers }, () =>
        doc.update((current) => ({ count: (current?.value.count ?? 0) + 1 }), { retries: 100 }),
      ),
    );
    assert.deepEqual(await doc.read(), { version: writers, value: { count: writers } });
  });

  it('update gives up after its retries with the conflict', async () => {
    // A store where every create loses, as if another writer always got there first.
    const store = new (class extends FilesystemObjectStore {
      override putIfAbsent(): Promise<boolean> {
        return Promise.resolve(false);
      }
    })(join(root, `s${++n}`));
    const doc = new VersionedDocument<Counter>(store, 'docs/counter', decodeCounter);
    let attempts = 0;
    await assert.rejects(
      doc.update(() => ({ count: ++attempts }), { retries: 2 }),
      CommitConflictError,
    );
    assert.equal(attempts, 3);
  });

  it('refuses a document that does not decode', async () => {
    const { store, doc } = fresh();
    await store.put('docs/counter/v0000000001.json', '{"nope":true}');
    await assert.rejects(doc.read(), (error: unknown) => (error as { code?: string }).code === 'LAKE_CORRUPT');
  });
});
