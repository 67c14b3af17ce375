import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';

const root = join(import.meta.dirname, '..', '..');

/**
 * The folder table of docs/architecture.md: each folder's "imports from" cell, as folder names. `undefined` for a
 * folder that may import anything (the cell says "anything").
 */
function documentedLayers(): Map<string, Set<string> | undefined> {
  const doc = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Folders'), doc.indexOf('\n## ', doc.indexOf('## Folders') + 1));
  const layers = new Map<string, Set<string> | undefined>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    const folder = /^`(\w+)\/`$/.exec(cells[1] ?? '')?.[1];
    if (!folder) continue;
    const imports = cells[4] ?? '';
    layers.set(
      folder,
      imports === 'anything' ? undefined : new Set([...imports.matchAll(/`(\w+)\/`/g)].map((match) => match[1]!)),
    );
  }
  return layers;
}

/** A real module of `folder` for a probe to import: its first TypeScript file. */
function moduleOf(folder: string): string {
  const walk = (dir: string): string | undefined => {
    const entries = readdirSync(join(root, dir), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) if (entry.isFile() && entry.name.endsWith('.ts')) return `${dir}/${entry.name}`;
    for (const entry of entries) if (entry.isDirectory()) return walk(`${dir}/${entry.name}`);
    return undefined;
  };
  const found = walk(folder);
  assert.ok(found, `no TypeScript module in ${folder}/`);
  return found.replace(/\.ts$/, '.js');
}

// The project's own configuration, without type information: the boundary rules need none, and a probe file that
// does not exist on disk could not join the TypeScript project anyway.
const eslint = new ESLint({ cwd: root, overrideConfig: [tseslint.configs.disableTypeChecked] });

async function lintProbe(folder: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, folder, 'boundary-probe.ts') });
  return result!.messages.map((message) => `${message.ruleId ?? 'parse'}: ${message.message}`);
}

const boundaryMessages = (messages: string[]): string[] =>
  messages.filter((message) => message.startsWith('import-x/no-restricted-paths'));

describe('folder boundaries (eslint.config.mjs against docs/architecture.md)', () => {
  const layers = documentedLayers();

  it('reads a row for every top-level folder of sources', () => {
    for (const folder of ['core', 'source', 'lake', 'stack', 'governance', 'engine', 'api', 'workflows', 'stream']) {
      assert.ok(layers.has(folder), `docs/architecture.md has no row for ${folder}/`);
    }
    assert.deepEqual([...(layers.get('core') ?? ['anything'])], [], 'core/ imports nothing');
  });

  it('fails lint for a forbidden import, naming the rule the folder breaks', async () => {
    const messages = await lintProbe(
      'core',
      `import { ManifestStore } from '../lake/manifest.js';\nvoid ManifestStore;\n`,
    );
    assert.deepEqual(boundaryMessages(messages), [
      'import-x/no-restricted-paths: Unexpected path "../lake/manifest.js" imported in restricted zone. core/ may import only itself (docs/architecture.md, Folders).',
    ]);
  });

  it('allows exactly the imports the table lists, for every pair of folders', async () => {
    const mismatches: string[] = [];
    for (const [folder, allowed] of layers) {
      if (allowed === undefined) continue;
      for (const other of layers.keys()) {
        if (other === folder) continue;
        const target = `../${moduleOf(other)}`;
        // A type import: workflows/ may take types where it may not take values (checked below).
        const messages = await lintProbe(
          folder,
          `import type * as probe from '${target}';\nexport type Probe = typeof probe;\n`,
        );
        const flagged = boundaryMessages(messages).length > 0;
        if (flagged === allowed.has(other)) {
          mismatches.push(`${folder}/ → ${other}/: ${flagged ? 'flagged, but the table allows it' : 'not flagged'}`);
        }
      }
    }
    assert.deepEqual(mismatches, []);
  });

  it('lets workflows/ take only types from activities/', async () => {
    const value = await lintProbe(
      'workflows',
      `import { createActivities } from '../activities/index.js';\nvoid createActivities;\n`,
    );
    assert.ok(
      value.some((message) => message.startsWith('no-restricted-imports') && message.includes('only as types')),
      value.join('\n'),
    );
    const type = await lintProbe(
      'workflows',
      `import type { Activities } from '../activities/index.js';\nexport type A = Activities;\n`,
    );
    assert.deepEqual(type, []);
  });
});
