// Runs the CLI from a bundle of its TypeScript sources, built on first use and rebuilt when any source changes.
// Loading ~200 modules through tsx's off-thread loader cost every command about 0.7 s of start-up; one prebuilt
// bundle loads in a fraction of that, and there is still no build step to forget.
//
// The bundle is CommonJS, so the packages it uses (CommonJS nearly all) are loaded with require. Imported from ES
// modules instead, each one is first scanned for its export names, re-exports followed file by file: for the
// Temporal SDK alone that scan cost `init` about 0.1 s of start-up here.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
/** Where bundles live: inside the package, so a bundle resolves node_modules exactly as the sources do. */
const buildDir = (root) => join(root, 'dist');
/** The folders the CLI is bundled from; the Dockerfile copies the same (test/unit/deploy-docker.test.ts). */
export const SOURCE_DIRS = [
  'activities',
  'api',
  'cli',
  'core',
  'engine',
  'governance',
  'lake',
  'source',
  'stack',
  'stream',
  'workers',
  'workflows',
];
/** Bump when the build options below change, so existing bundles are not reused. */
const BUILD_FORMAT = '2';
const ENTRY = 'main.cjs';
/** Older bundles are removed only after this long, so a process that is just starting from one keeps it. */
const PRUNE_AFTER_MS = 60 * 60 * 1000;

/** Every source file's path, size and modification time: any edit, checkout or new file changes it. */
export function sourceFingerprint(root) {
  const hash = createHash('sha256').update(BUILD_FORMAT);
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (error) {
      if (error.code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') || entry.name.endsWith('.json')) {
        const stat = statSync(path);
        hash.update(`${path}\0${stat.size}\0${stat.mtimeMs}\n`);
      }
    }
  };
  for (const dir of SOURCE_DIRS) walk(join(root, dir));
  hash.update(`${statSync(join(root, 'package.json')).mtimeMs}`);
  return hash.digest('hex').slice(0, 16);
}

async function build(root, outdir) {
  const esbuild = await import('esbuild');
  const staging = join(buildDir(root), `.staging-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await esbuild.build({
      entryPoints: [join(root, 'cli', 'main.ts')],
      outfile: join(staging, ENTRY),
      bundle: true,
      format: 'cjs',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      // import() of a package becomes require too, so no package is loaded through the ES module loader.
      supported: { 'dynamic-import': false },
      // Sources locate files relative to their module's URL: the bundle's own, as it was for the ES bundle.
      define: { 'import.meta.url': '__bundleUrl' },
      banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
      logLevel: 'silent',
    });
    try {
      renameSync(staging, outdir);
    } catch (error) {
      // Another process built the same sources first: its bundle is identical, use it.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function pruneOlderBundles(root, current) {
  for (const entry of readdirSync(buildDir(root))) {
    const path = join(buildDir(root), entry);
    if (entry === current || !entry.startsWith('cli-')) continue;
    try {
      if (Date.now() - statSync(path).mtimeMs > PRUNE_AFTER_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // removed by another process meanwhile
    }
  }
}

/** The bundle's entry for the sources under root as they are now, built if missing. */
export async function bundledEntry(root = ROOT) {
  const name = `cli-${sourceFingerprint(root)}`;
  const entry = join(buildDir(root), name, ENTRY);
  try {
    statSync(entry);
    return entry;
  } catch {
    // not built yet for these sources
  }
  mkdirSync(buildDir(root), { recursive: true });
  await build(root, join(buildDir(root), name));
  pruneOlderBundles(root, name);
  return entry;
}

async function entryOrSources() {
  if (process.env.PGCDC_CLI_FROM_SOURCES === '1') return undefined;
  try {
    return await bundledEntry();
  } catch (error) {
    process.stderr.write(
      `pg-cdc: could not build the CLI bundle (${error.message.split('\n')[0]}); running the sources through tsx\n`,
    );
    return undefined;
  }
}

export async function launch() {
  const entry = await entryOrSources();
  if (entry) {
    createRequire(import.meta.url)(entry);
    return;
  }
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli/main.ts');
}
