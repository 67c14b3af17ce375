/**
 * The test command. Unit tests need no server. Integration tests share one embedded stack started here, the way a
 * global setup would: a `wal_level=logical` PostgreSQL, a Temporal dev server and, when setup provided it, moto.
 * Each test file then makes its own database, namespace-scoped task queue or bucket, so files run side by side:
 * `PGCDC_TEST_CONCURRENCY` of them at once, one per core by default. Usage:
 *   node --import tsx scripts/run-tests.ts [--unit | --integration] [file-filter ...]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createLogger } from '../core/log/index.js';
import { motoServerPath, startMoto, type RunningMoto } from '../stack/moto.js';
import { startPostgres } from '../stack/postgres.js';
import { startTemporalDevServer } from '../stack/temporal.js';
import { TEST_ENV } from '../test/support/env-names.js';

const root = join(import.meta.dirname, '..');
const args = process.argv.slice(2);
const only = args.includes('--unit') ? 'unit' : args.includes('--integration') ? 'integration' : 'all';
const filters = args.filter((a) => !a.startsWith('--'));

function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...testFiles(path));
    else if (entry.endsWith('.test.ts')) out.push(path);
  }
  return out.sort();
}

const suites = only === 'all' ? ['unit', 'integration'] : [only];
const files = suites
  .flatMap((suite) => testFiles(join(root, 'test', suite)))
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)));
const needsStack = files.some((file) => file.includes(`${join('test', 'integration')}`));

const concurrency = Number.parseInt(process.env[TEST_ENV.concurrency] ?? String(availableParallelism()), 10);
if (!(concurrency >= 1)) throw new Error(`${TEST_ENV.concurrency} must be a whole number from 1`);

const log = createLogger({ name: 'test-stack', level: 'warn' });
const env: NodeJS.ProcessEnv = { ...process.env };
const cleanups: Array<() => Promise<void>> = [];
const stateDir = mkdtempSync(join(tmpdir(), 'pg-cdc-test-'));
cleanups.push(() => Promise.resolve(rmSync(stateDir, { recursive: true, force: true })));

async function cleanup(): Promise<void> {
  for (const step of cleanups.reverse()) await step().catch((error: unknown) => console.error(error));
}

let exitCode = 1;
try {
  if (needsStack) {
    const started = Date.now();
    const [postgres, temporal, moto] = await Promise.all([
      startPostgres({ dataDir: join(stateDir, 'postgres', 'data'), durable: false, log }),
      startTemporalDevServer({ stateDir: join(stateDir, 'temporal'), ui: false, log }),
      motoServerPath() ? startMoto({ log }) : Promise.resolve<RunningMoto | undefined>(undefined),
    ]);
    cleanups.push(
      () => postgres.stop(),
      () => temporal.stop(),
    );
    if (moto) cleanups.push(() => moto.stop());
    Object.assign(env, {
      [TEST_ENV.postgresUrl]: postgres.url(),
      [TEST_ENV.temporalAddress]: temporal.address,
      [TEST_ENV.temporalNamespace]: temporal.namespace,
      [TEST_ENV.stateDir]: stateDir,
      ...(moto ? { [TEST_ENV.motoEndpoint]: moto.endpoint } : {}),
    });
    console.log(
      `test stack: postgres ${postgres.version} on :${postgres.port}, temporal at ${temporal.address}, ` +
        `moto ${moto ? `at ${moto.endpoint}` : 'NOT INSTALLED (AWS tests will be skipped)'} ` +
        `(${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
  }
  console.log(
    `running ${files.length} test files, ${concurrency} at a time: ${files.map((f) => relative(root, f)).join(', ')}`,
  );
  exitCode = await new Promise<number>((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-concurrency=${concurrency}`, ...files],
      { cwd: root, env, stdio: 'inherit' },
    );
    const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
    process.once('SIGINT', forward).once('SIGTERM', forward);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
} finally {
  await cleanup();
}
process.exit(exitCode);
