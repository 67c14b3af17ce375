// Set-up, stage one: Node itself and the npm dependencies. Everything after that (PostgreSQL, the Temporal CLI,
// the Python tools) is in setup-tools.ts, which reuses the stack's own lookups instead of repeating them here.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (what, detail = '') => console.log(`setup: ${what}${detail ? ` (${detail})` : ''}`);

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 3)) {
  console.error(
    `setup: Node.js ${process.versions.node} is too old; pg-cdc needs Node.js >= 20.3 (install it from nodejs.org or your package manager)`,
  );
  process.exit(1);
}

const lockHash = createHash('sha256')
  .update(readFileSync(join(root, 'package-lock.json')))
  .digest('hex');
const stamp = join(root, 'node_modules', '.pg-cdc-lock-hash');
if (existsSync(stamp) && readFileSync(stamp, 'utf8') === lockHash) {
  say('skipped npm ci', 'node_modules matches package-lock.json');
} else {
  say('running npm ci');
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (npm.status !== 0) {
    console.error('setup: npm ci failed; see the output above');
    process.exit(npm.status ?? 1);
  }
  writeFileSync(stamp, lockHash);
  say('installed npm dependencies');
}

try {
  execFileSync(
    process.execPath,
    ['--import', 'tsx', join(root, 'scripts', 'setup-tools.ts'), ...process.argv.slice(2)],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
} catch (error) {
  process.exit(error.status ?? 1);
}
