/**
 * npm run bench:snapshot — raw `COPY … TO STDOUT` versus `pg-cdc init` into committed Iceberg, same table, same run.
 * Prints both rates and their ratio (target >= 0.6 on 2 cores). BENCH_ROWS overrides the 2 M rows; BENCH_PARALLEL
 * and BENCH_CHUNK_BYTES set init.parallel_workers and init.chunk_target_bytes (defaults 4 and 64 MiB); BENCH_NODE_ARGS
 * adds Node options to the init process (e.g. --cpu-prof); BENCH_LOG=<file> keeps its debug log.
 */
import { execFileSync, spawn } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { findPostgresBinaries } from '../stack/postgres-binaries.js';
import { startPostgres } from '../stack/postgres.js';
import { startTemporalDevServer } from '../stack/temporal.js';
import { tempDir } from '../test/support/stack.js';
import { cpuSeconds } from './proc.js';

const rows = Number(process.env.BENCH_ROWS ?? 2_000_000);
const root = join(import.meta.dirname, '..');
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const rate = (n: number, ms: number): string => `${Math.round(n / (ms / 1000)).toLocaleString('en-US')} rows/s`;

const work = tempDir('pg-cdc-bench-');
const postgres = await startPostgres({ dataDir: join(work, 'pg', 'data'), durable: false });
const temporal = await startTemporalDevServer({ stateDir: join(work, 'temporal'), ui: false });
try {
  say(
    `bench:snapshot — ${rows.toLocaleString('en-US')} rows, PostgreSQL ${postgres.version}, temporal ${temporal.address}`,
  );
  const url = await postgres.createDatabase('bench');
  let started = Date.now();
  await postgres.query(
    `CREATE TABLE orders (
       id bigint PRIMARY KEY, customer_id int NOT NULL, amount numeric(12,2) NOT NULL, status text NOT NULL,
       items jsonb NOT NULL, placed_at timestamptz NOT NULL, note text);
     INSERT INTO orders
     SELECT g, g % 50000, round((g % 100000) / 7.0, 2), (ARRAY['pending','paid','shipped'])[1 + g % 3],
            jsonb_build_object('sku', 'SKU-' || (g % 997), 'qty', 1 + g % 5, 'gift', g % 11 = 0),
            timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second',
            CASE WHEN g % 4 = 0 THEN NULL ELSE 'note ' || md5(g::text) END
     FROM generate_series(1, ${rows}) AS g`,
    [],
    'bench',
  );
  await postgres.query('VACUUM ANALYZE orders', [], 'bench');
  say(`loaded in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const psql = join(findPostgresBinaries().binDir, 'psql');
  // Backends are children of the postmaster: their CPU shows in its reaped-children counters once they exit.
  const postmaster = Number(readFileSync(join(postgres.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const serverCpu = (): number => cpuSeconds(postmaster, { children: true });
  // A backend's CPU reaches those counters only after it exits and is reaped, a moment after its client is gone:
  // read them once they stop moving, or one run's backends are counted in the next measurement.
  const settledServerCpu = async (): Promise<number> => {
    let last = serverCpu();
    for (let stable = 0, i = 0; stable < 3 && i < 50; i++) {
      await sleep(100);
      const now = serverCpu();
      stable = now === last ? stable + 1 : 0;
      last = now;
    }
    return last;
  };
  let serverBefore = await settledServerCpu();
  started = Date.now();
  execFileSync('sh', ['-c', `"${psql}" "${url}" -c "COPY orders TO STDOUT" > /dev/null`]);
  const copyMs = Date.now() - started;
  say(`raw COPY TO STDOUT > /dev/null:  ${(copyMs / 1000).toFixed(2)} s  ${rate(rows, copyMs)}`);
  say(`  PostgreSQL CPU: ${((await settledServerCpu()) - serverBefore).toFixed(1)} s`);

  const config = join(work, 'pg-cdc.yml');
  writeFileSync(
    config,
    [
      `state_dir: ${join(work, 'state')}`,
      `source:\n  postgres:\n    url: ${url}`,
      `temporal:\n  address: ${temporal.address}\n  task_queue: bench`,
      'log:\n  level: warn',
      `init:\n  parallel_workers: ${process.env.BENCH_PARALLEL ?? 4}\n  chunk_target_bytes: ${process.env.BENCH_CHUNK_BYTES ?? 67108864}`,
    ].join('\n'),
  );
  // BENCH_LOG=<file> keeps the init's debug log, to see where the time outside the workflow goes.
  const logFile = process.env.BENCH_LOG ? openSync(process.env.BENCH_LOG, 'w') : 'ignore';
  serverBefore = await settledServerCpu();
  say(`init spawned at ${new Date().toISOString()}`);
  started = Date.now();
  let initCpu = NaN;
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(
      process.execPath,
      [
        ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
        join(root, 'bin', 'pg-cdc.js'),
        '--config',
        config,
        'init',
      ],
      {
        stdio: ['ignore', 'ignore', logFile === 'ignore' ? 'inherit' : logFile],
        env: { ...process.env, PGCDC_LOG_LEVEL: process.env.BENCH_LOG ? 'debug' : 'warn' },
      },
    );
    const sampler = setInterval(() => {
      const seconds = cpuSeconds(child.pid);
      if (!Number.isNaN(seconds)) initCpu = seconds;
    }, 50);
    child.once('exit', (exitCode) => {
      clearInterval(sampler);
      resolve(exitCode);
    });
  });
  const initMs = Date.now() - started;
  const serverAfter = await settledServerCpu();
  if (code !== 0) throw new Error(`pg-cdc init exited ${code}`);

  const connection = await Connection.connect({ address: temporal.address });
  const history = await new Client({ connection }).workflow.getHandle('snapshot:pg_cdc_slot').fetchHistory();
  await connection.close();
  const events = history.events ?? [];
  const at = (e: (typeof events)[number]): number =>
    Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
  const times = events.map(at);
  const workflowMs = Math.max(...times) - Math.min(...times);
  // Phases from the history: everything before the first chunk, the chunks, everything after the last one.
  const copies = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'copyChunk');
  const copyIds = new Set(copies.map((e) => String(e.eventId)));
  const copyDone = events
    .filter((e) => copyIds.has(String(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? '')))
    .map(at);
  const phases = {
    setup: Math.min(...copies.map(at)) - Math.min(...times),
    copy: Math.max(...copyDone) - Math.min(...copies.map(at)),
    commit: Math.max(...times) - Math.max(...copyDone),
  };

  say(`pg-cdc init (CLI start to exit):  ${(initMs / 1000).toFixed(2)} s  ${rate(rows, initMs)}`);
  say(
    `  CPU: pg-cdc init ${initCpu.toFixed(1)} s (DuckDB threads included), PostgreSQL ${(serverAfter - serverBefore).toFixed(1)} s`,
  );
  say(`  of which the snapshot workflow:  ${(workflowMs / 1000).toFixed(2)} s  ${rate(rows, workflowMs)}`);
  say(
    `    setup ${(phases.setup / 1000).toFixed(2)} s, ${copies.length} chunks copied in ${(phases.copy / 1000).toFixed(2)} s ` +
      `(${rate(rows, phases.copy)}), commit ${(phases.commit / 1000).toFixed(2)} s`,
  );
  say(`ratio init/COPY (whole command):   ${(copyMs / initMs).toFixed(2)}  (target >= 0.60)`);
  say(`ratio workflow/COPY:               ${(copyMs / workflowMs).toFixed(2)}`);
} finally {
  await temporal.stop();
  await postgres.stop();
}
