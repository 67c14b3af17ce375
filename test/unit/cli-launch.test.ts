import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { bundledEntry, sourceFingerprint } from '../../bin/launch.mjs';

describe('CLI launcher: a bundle per state of the sources', () => {
  const root = mkdtempSync(join(tmpdir(), 'pg-cdc-launch-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const write = (path: string, text: string): void => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  const run = (entry: string): string => execFileSync(process.execPath, [entry], { encoding: 'utf8' }).trim();
  write('package.json', JSON.stringify({ name: 'fixture', type: 'module' }));
  write('cli/main.ts', "import { word } from '../core/word.js';\nconst said: string = word;\nconsole.log(said);\n");
  write('core/word.ts', "export const word = 'one';\n");

  it('builds the sources once and runs the bundle', async () => {
    const entry = await bundledEntry(root);
    assert.ok(entry.startsWith(join(root, 'dist', 'cli-')), entry);
    assert.equal(run(entry), 'one');
    assert.equal(await bundledEntry(root), entry, 'unchanged sources reuse the bundle');
  });

  it('never runs a stale bundle: an edited or added source gets a new one', async () => {
    const before = await bundledEntry(root);
    const fingerprint = sourceFingerprint(root);
    write('core/word.ts', "export const word = 'two';\n");
    const later = new Date(Date.now() + 5_000);
    utimesSync(join(root, 'core/word.ts'), later, later); // even an edit within the clock's granularity
    assert.notEqual(sourceFingerprint(root), fingerprint);
    const edited = await bundledEntry(root);
    assert.notEqual(edited, before);
    assert.equal(run(edited), 'two');
    assert.ok(existsSync(before), 'a recent older bundle stays for processes still starting from it');

    write('core/unused.ts', 'export const other = 3;\n');
    assert.notEqual(await bundledEntry(root), edited);
  });

  it('lets processes that build the same sources at once share one bundle', async () => {
    write('core/word.ts', "export const word = 'three';\n");
    const entries = await Promise.all([bundledEntry(root), bundledEntry(root), bundledEntry(root)]);
    assert.equal(new Set(entries).size, 1);
    assert.equal(run(entries[0]), 'three');
  });
});
