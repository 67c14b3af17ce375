import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isPgCdcError } from '../../core/errors/index.js';
import { parseJson, stringifyJson } from '../../lake/json.js';
import { FilesystemObjectStore } from '../../lake/storage/filesystem.js';
import { decodeUtf8, joinKey } from '../../lake/storage/index.js';

const root = mkdtempSync(join(tmpdir(), 'pg-cdc-lake-storage-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshStore = (): FilesystemObjectStore => new FilesystemObjectStore(join(root, `s${++n}`));
const text = async (store: FilesystemObjectStore, key: string): Promise<string | undefined> => {
  const body = await store.get(key);
  return body && decodeUtf8(body);
};

describe('filesystem object store', () => {
  it('putIfAbsent: of 20 concurrent creates of one key exactly one wins, and its body is the one kept', async () => {
    const store = freshStore();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.putIfAbsent('doc/v1.json', `writer ${i}`.repeat(1000))),
    );
    const winners = results.flatMap((won, i) => (won ? [i] : []));
    assert.equal(winners.length, 1);
    assert.equal(await text(store, 'doc/v1.json'), `writer ${winners[0]}`.repeat(1000));
    assert.deepEqual(readdirSync(join(store.root, 'doc')), ['v1.json'], 'no temp file is left behind');
  });

  it('putIfAbsent leaves an existing object untouched', async () => {
    const store = freshStore();
    assert.equal(await store.putIfAbsent('a', 'first'), true);
    assert.equal(await store.putIfAbsent('a', 'second'), false);
    assert.equal(await text(store, 'a'), 'first');
  });

  it('put replaces atomically; get, exists and delete behave on missing keys', async () => {
    const store = freshStore();
    assert.equal(await store.get('x/y'), undefined);
    assert.equal(await store.exists('x/y'), false);
    await store.put('x/y', 'one');
    await store.put('x/y', new TextEncoder().encode('two'));
    assert.equal(await text(store, 'x/y'), 'two');
    assert.equal(await store.exists('x/y'), true);
    assert.equal(await store.exists('x'), false, 'a directory is not an object');
    await store.delete('x/y');
    await store.delete('x/y');
    assert.equal(await store.exists('x/y'), false);
  });

  it('lists keys by string prefix, sorted, without temp files', async () => {
    const store = freshStore();
    for (const key of ['t/metadata/v10.json', 't/metadata/v9.json', 't/data/a.parquet', 'u/x', 'tt/y']) {
      await store.put(key, key);
    }
    writeFileSync(join(store.root, 't', 'metadata', '.pgcdc-tmp-deadbeef'), 'partial');
    assert.deepEqual(await store.list('t/'), ['t/data/a.parquet', 't/metadata/v10.json', 't/metadata/v9.json']);
    assert.deepEqual(await store.list('t/metadata/v1'), ['t/metadata/v10.json']);
    assert.deepEqual(await store.list('t'), ['t/data/a.parquet', 't/metadata/v10.json', 't/metadata/v9.json', 'tt/y']);
    assert.deepEqual(await store.list('nothing/'), []);
    assert.equal((await store.list('')).length, 5);
  });

  it('rejects keys that could escape the root', async () => {
    const store = freshStore();
    for (const key of ['', '../etc/passwd', 'a/../../b', '/abs/path', 'a//b', 'a/./b', 'a/', 'a\\..\\b', '..']) {
      await assert.rejects(store.put(key, 'x'), (error: unknown) => {
        assert.ok(isPgCdcError(error));
        assert.equal(error.code, 'STORAGE_KEY_INVALID');
        return true;
      });
      await assert.rejects(store.putIfAbsent(key, 'x'), /invalid storage key/);
      await assert.rejects(store.get(key), /invalid storage key/);
    }
    await assert.rejects(store.list('../'), /invalid storage key/);
    assert.throws(() => store.uri('../x'), /invalid storage key/);
  });

  it('maps keys to file:// URIs and back', () => {
    const store = freshStore();
    const uri = store.uri('public/orders/data/f 1.parquet');
    assert.equal(uri, `file://${store.root}/public/orders/data/f 1.parquet`);
    assert.equal(store.keyOf(uri), 'public/orders/data/f 1.parquet');
    assert.equal(store.keyOf('file:///elsewhere/x'), undefined);
    assert.equal(store.localPath('a/b'), join(store.root, 'a', 'b'));
    assert.equal(joinKey('a/', '/b', '', 'c/'), 'a/b/c');
  });
});

describe('lossless JSON', () => {
  it('keeps 63-bit integers exact both ways', () => {
    const id = 9069070424146742760n;
    const text = stringifyJson({ id, small: 5, list: [id, -id], s: 'x"y' });
    assert.equal(text, `{"id":${id},"small":5,"list":[${id},-${id}],"s":"x\\"y"}`);
    assert.deepEqual(parseJson(text), { id, small: 5, list: [id, -id], s: 'x"y' });
  });

  it('parses what JSON.parse parses, and rejects what it rejects', () => {
    const sample = '{"a":[1,2.5,-3e2,true,false,null,"\\u00e9\\n"],"b":{},"c":[]}';
    assert.deepEqual(parseJson(sample), JSON.parse(sample));
    for (const bad of ['{', '{"a" 1}', '[1,]', 'tru', '"x', '1 2', '{"a":01}']) {
      assert.throws(() => parseJson(bad), SyntaxError, bad);
    }
  });
});
