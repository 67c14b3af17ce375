/**
 * The fault suite (`npm run test:faults`): every case in test/faults/ runs pg-cdc under pgbench on servers of its
 * own, injects its fault at a seeded random point, recovers and checks the lake against the source. Cases run one
 * at a time: their timing is the point, and they kill and restart servers. The seed is printed first (set
 * `PGCDC_FAULT_SEED` to replay it), the faults and their outcomes as a table at the end. Usage:
 *   node --import tsx scripts/run-faults.ts [case-file-filter ...]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { FAULT_ENV, drawSeed } from '../test/faults/support/env.js';
import { formatReport, readReport } from '../test/faults/support/report.js';

const root = join(import.meta.dirname, '..');
const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const dir = join(root, 'test', 'faults');
const files = readdirSync(dir)
  .filter((entry) => entry.endsWith('.test.ts'))
  .sort()
  .map((entry) => join(dir, entry))
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)));

const seed = drawSeed();
const reportDir = mkdtempSync(join(tmpdir(), 'pg-cdc-faults-'));
const report = join(reportDir, 'faults.ndjson');
console.log(`fault suite: seed ${seed} (replay with ${FAULT_ENV.seed}=${seed})`);
console.log(`running ${files.length} cases one at a time: ${files.map((f) => relative(root, f)).join(', ')}`);

const started = Date.now();
const exitCode = await new Promise<number>((resolve) => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...files],
    {
      cwd: root,
      env: { ...process.env, [FAULT_ENV.seed]: String(seed), [FAULT_ENV.report]: report },
      stdio: 'inherit',
    },
  );
  const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
  process.once('SIGINT', forward).once('SIGTERM', forward);
  child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
});

const records = readReport(report);
rmSync(reportDir, { recursive: true, force: true });
console.log(`\nfaults injected (seed ${seed}):\n`);
console.log(records.length > 0 ? formatReport(records) : '(no case reported: see the output above)');
const passed = records.filter((r) => r.passed).length;
console.log(
  `\n${passed} of ${records.length} cases passed in ${((Date.now() - started) / 1000).toFixed(0)} s ` +
    `(replay with ${FAULT_ENV.seed}=${seed} npm run test:faults)`,
);
process.exit(exitCode !== 0 ? exitCode : records.length === files.length ? 0 : 1);
