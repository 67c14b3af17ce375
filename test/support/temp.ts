import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = new Set<string>();

/**
 * A fresh directory under the OS temp dir, removed when the test process exits: tests that create clusters, lakes
 * and registries by the hundred leave nothing behind.
 */
export function tempDir(prefix = 'pg-cdc-t-'): string {
  if (made.size === 0) process.once('exit', () => made.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.add(dir);
  return dir;
}
