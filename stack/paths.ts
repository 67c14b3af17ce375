import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from '../core/cache-dir.js';

export { cacheDir, duckdbExtensionDir } from '../core/cache-dir.js';

export const cachedBinDir = (env?: NodeJS.ProcessEnv): string => join(cacheDir(env), 'bin');
export const venvDir = (env?: NodeJS.ProcessEnv): string => join(cacheDir(env), 'venv');
export const venvBin = (name: string, env?: NodeJS.ProcessEnv): string => join(venvDir(env), 'bin', name);

let root: string | undefined;

/**
 * The pg-cdc checkout or installed package: the nearest directory above this module whose package.json is
 * pg-cdc's. Found by walking up rather than by a fixed `../..`, because the same module runs from its source
 * folder and from the CLI's prebuilt bundle (bin/launch.mjs), which sit at different depths.
 */
export function projectRoot(): string {
  if (root) return root;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (manifest.name === 'pg-cdc') return (root = dir);
    } catch {
      // no package.json here: keep walking up
    }
    if (dirname(dir) === dir) throw new Error(`no pg-cdc package.json above ${fileURLToPath(import.meta.url)}`);
  }
}
