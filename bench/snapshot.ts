/**
 * npm run bench:snapshot — raw `COPY … TO STDOUT` versus `pg-cdc init` into committed Iceberg, same table, same run.
 * The two alternate for BENCH_ROUNDS rounds (default 3); prints each round, then the medians' rates and their ratio
 * (targets: init >= 0.75, the workflow alone >= 0.9). BENCH_ROWS overrides the 2 M rows; BENCH_PARALLEL and BENCH_CHUNK_BYTES set
 * init.parallel_workers and init.chunk_target_bytes (unset, pg-cdc's defaults); BENCH_NODE_ARGS adds Node options to the
 * CLI processes (e.g. --cpu-prof); BENCH_LOG=<file> keeps the last init's debug log. BENCH_STORAGE=s3 runs a second
 * init per round into an S3 bucket (moto, behind a proxy that counts requests) and prints its ratio to the
 * filesystem init and the requests it sent.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { findPostgresBinaries } from '../stack/postgres-binaries.js';
import { startPostgres } from '../stack/postgres.js';
import { startTemporalDevServer } from '../stack/temporal.js';
import { tempDir } from '../test/support/stack.js';
import { cpuSeconds } from './proc.js';
import { benchStorage, describeRequests, startBenchS3, type BenchS3 } from './s3.js';
import { median } from './stats.js';

const rows = Number(process.env.BENCH_ROWS ?? 2_000_000);
const root = join(import.meta.dirname, '..');
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const rate = (n: number, ms: number): string => `${Math.round(n / (ms / 1000)).toLocaleString('en-US')} rows/s`;

const work = tempDir('pg-cdc-bench-');
const postgres = await startPostgres({ dataDir: join(work, 'pg', 'data'), durable: false });
const temporal = await startTemporalDevServer({ stateDir: join(work, 'temporal'), ui: false });
const s3: BenchS3 | undefined = benchStorage() === 's3' ? await startBenchS3() : undefined;
try {
  say(
    `bench:snapshot — ${rows.toLocaleString('en-US')} rows, PostgreSQL ${postgres.version}, temporal ${temporal.address}`,
  );
  const url = await postgres.createDatabase('bench');
  const started = Date.now();
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
  // Without the variables, pg-cdc's defaults: the figure is what a user gets.
  const initSettings = (): string[] => {
    const settings = [
      ...(process.env.BENCH_PARALLEL ? [`  parallel_workers: ${process.env.BENCH_PARALLEL}`] : []),
      ...(process.env.BENCH_CHUNK_BYTES ? [`  chunk_target_bytes: ${process.env.BENCH_CHUNK_BYTES}`] : []),
    ];
    return settings.length > 0 ? ['init:', ...settings] : [];
  };
  const writeBenchConfig = (name: string, stateDir: string, storage: string[]): string => {
    const path = join(work, name);
    writeFileSync(
      path,
      [
        `state_dir: ${stateDir}`,
        `source:\n  postgres:\n    url: ${url}`,
        `temporal:\n  address: ${temporal.address}\n  task_queue: bench`,
        'log:\n  level: warn',
        ...storage,
        ...initSettings(),
      ].join('\n'),
    );
    return path;
  };
  const fsConfig = writeBenchConfig('pg-cdc.yml', join(work, 'state'), []);
  const s3Config = s3 && writeBenchConfig('pg-cdc-s3.yml', join(work, 'state-s3'), [s3.storageYaml]);
  const cli = (args: string[], env: NodeJS.ProcessEnv, stderr: 'inherit' | number, config = fsConfig) =>
    spawn(
      process.execPath,
      [
        ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
        join(root, 'bin', 'pg-cdc.js'),
        '--config',
        config,
        ...args,
      ],
      { stdio: ['ignore', 'ignore', stderr], env: { ...process.env, ...s3?.env, ...env } },
    );

  const rawCopy = async (): Promise<{ ms: number; serverCpu: number; clientCpu: number }> => {
    const before = await settledServerCpu();
    const clientBefore = cpuSeconds(process.pid, { children: true });
    const started = Date.now();
    execFileSync('sh', ['-c', `"${psql}" "${url}" -c "COPY orders TO STDOUT" > /dev/null`]);
    const ms = Date.now() - started;
    const clientCpu = cpuSeconds(process.pid, { children: true }) - clientBefore;
    return { ms, serverCpu: (await settledServerCpu()) - before, clientCpu };
  };

  const init = async (round: number, config = fsConfig) => {
    // With two lakes, each init follows the other's: the slot and publication (one name in both) go every time.
    if (round > 1 || s3Config) {
      // The previous round's slot, publication and lake go first: each init starts from nothing.
      const teardown = cli(['teardown', '--purge-storage', '--yes'], { PGCDC_LOG_LEVEL: 'warn' }, 'inherit', config);
      const code = await new Promise<number | null>((resolve) => teardown.once('exit', resolve));
      if (code !== 0) throw new Error(`pg-cdc teardown exited ${code}`);
    }
    // BENCH_LOG=<file> keeps the last init's debug log, to see where the time outside the workflow goes.
    const logFile = process.env.BENCH_LOG ? openSync(process.env.BENCH_LOG, 'w') : 'inherit';
    const serverBefore = await settledServerCpu();
    const started = Date.now();
    let cpu = NaN;
    const child = cli(['init'], { PGCDC_LOG_LEVEL: process.env.BENCH_LOG ? 'debug' : 'warn' }, logFile, config);
    const sampler = setInterval(() => {
      const seconds = cpuSeconds(child.pid);
      if (!Number.isNaN(seconds)) cpu = seconds;
    }, 50);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearInterval(sampler);
    if (typeof logFile === 'number') closeSync(logFile);
    const ms = Date.now() - started;
    const serverCpu = (await settledServerCpu()) - serverBefore;
    if (code !== 0) throw new Error(`pg-cdc init exited ${code}`);
    return { ms, cpu, serverCpu, ...(await workflowPhases()) };
  };

  const workflowPhases = async () => {
    const connection = await Connection.connect({ address: temporal.address });
    const history = await new Client({ connection }).workflow.getHandle('snapshot:pg_cdc_slot').fetchHistory();
    await connection.close();
    const events = history.events ?? [];
    const at = (e: (typeof events)[number]): number =>
      Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
    const times = events.map(at);
    // Phases from the history: everything before the first chunk, the chunks, everything after the last one.
    const chunkStarts = events.filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'copyChunk',
    );
    const copyIds = new Set(chunkStarts.map((e) => String(e.eventId)));
    const copyDone = events
      .filter((e) => copyIds.has(String(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? '')))
      .map(at);
    return {
      workflowMs: Math.max(...times) - Math.min(...times),
      chunks: chunkStarts.length,
      setupMs: Math.min(...chunkStarts.map(at)) - Math.min(...times),
      copyMs: Math.max(...copyDone) - Math.min(...chunkStarts.map(at)),
      commitMs: Math.max(...times) - Math.max(...copyDone),
    };
  };

  // Raw COPY and init alternate, so a slow stretch of a shared machine weighs on both; medians are compared.
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const copies: Awaited<ReturnType<typeof rawCopy>>[] = [];
  const inits: Awaited<ReturnType<typeof init>>[] = [];
  const s3Inits: number[] = [];
  const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
  for (let round = 1; round <= rounds; round++) {
    const copy = await rawCopy();
    const run = await init(round);
    if (s3 && s3Config) {
      const before = s3.requests();
      const onS3 = await init(round, s3Config);
      s3Inits.push(onS3.ms);
      say(
        `round ${round}: init on S3 ${s(onS3.ms)} (workflow ${s(onS3.workflowMs)}: copy ${s(onS3.copyMs)}, ` +
          `commit ${s(onS3.commitMs)}), filesystem ${s(run.ms)}: ratio S3/filesystem ${(onS3.ms / run.ms).toFixed(2)}; ` +
          `requests (teardown of the last S3 round included) ${describeRequests(before, s3.requests())}`,
      );
    }
    copies.push(copy);
    inits.push(run);
    say(
      `round ${round}: raw COPY ${s(copy.ms)} (PostgreSQL CPU ${copy.serverCpu.toFixed(1)} s, ` +
        `psql ${copy.clientCpu.toFixed(1)} s); ` +
        `init ${s(run.ms)} (CPU ${run.cpu.toFixed(1)} s, PostgreSQL ${run.serverCpu.toFixed(1)} s), ` +
        `workflow ${s(run.workflowMs)}: setup ${s(run.setupMs)}, ${run.chunks} chunks ${s(run.copyMs)}, ` +
        `commit ${s(run.commitMs)}; ratio ${(copy.ms / run.ms).toFixed(2)}`,
    );
  }
  const copyMs = median(copies.map((c) => c.ms));
  const initMs = median(inits.map((r) => r.ms));
  const workflowMs = median(inits.map((r) => r.workflowMs));
  say(`medians of ${rounds} round(s):`);
  say(`raw COPY TO STDOUT > /dev/null:  ${s(copyMs)}  ${rate(rows, copyMs)}`);
  say(`pg-cdc init (CLI start to exit):  ${s(initMs)}  ${rate(rows, initMs)}`);
  say(`  of which the snapshot workflow:  ${s(workflowMs)}  ${rate(rows, workflowMs)}`);
  say(`ratio init/COPY (whole command):   ${(copyMs / initMs).toFixed(2)}  (target >= 0.75)`);
  say(`ratio workflow/COPY:               ${(copyMs / workflowMs).toFixed(2)}  (target >= 0.90)`);
  // On a shared machine the reference can run at half speed for the same server CPU (psql's own CPU then rises,
  // mostly system time, for the same system calls): the fastest round of each is the figure least moved by that.
  const fastestCopy = Math.min(...copies.map((c) => c.ms));
  const fastestInit = Math.min(...inits.map((r) => r.ms));
  say(
    `fastest round of each: raw COPY ${s(fastestCopy)}, init ${s(fastestInit)}, ` +
      `ratio ${(fastestCopy / fastestInit).toFixed(2)}`,
  );
  if (s3Inits.length > 0) {
    const s3Ms = median(s3Inits);
    say(
      `pg-cdc init on S3 (moto):         ${s(s3Ms)}  ${rate(rows, s3Ms)}  ratio S3/filesystem ${(s3Ms / initMs).toFixed(2)}`,
    );
  }
} finally {
  await s3?.stop();
  await temporal.stop();
  await postgres.stop();
  rmSync(work, { recursive: true, force: true });
}
