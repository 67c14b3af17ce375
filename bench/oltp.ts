/**
 * npm run bench:oltp — replication lag under an OLTP load. pgbench's TPC-B (BENCH_CLIENTS 8 clients, BENCH_SECONDS
 * 60 s, scale BENCH_SCALE 10) runs against a database that `pg-cdc start` streams with `flush.interval_sec: 1`
 * (otherwise pg-cdc's defaults). Every 100 ms it samples the slot: its lag in bytes (the WAL written less the
 * position the slot is acknowledged at) and in seconds (how long ago the oldest unacknowledged WAL was written).
 * It prints their p50/p95/max during the load, then the time from the load's end until the slot is acknowledged
 * past the WAL's end at that moment (target ≤ 2 s: acknowledged means every table committed it to the lake), and
 * checks that the four pgbench tables in the lake equal PostgreSQL's (row count and an md5 over sorted per-row
 * hashes, computed in SQL on both sides). BENCH_STORAGE=s3 runs the same load again into a lake on S3 (moto, its
 * own database, slot and Temporal dev server) and prints its figures' ratios to the filesystem run's.
 * BENCH_LOG=<file> keeps the stream's debug log; BENCH_NODE_ARGS adds Node options to `pg-cdc start`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadConfig } from '../core/config/index.js';
import { parseLsn } from '../core/lsn/index.js';
import { openLake } from '../lake/open.js';
import { openDuckDB } from '../lake/parquet/writer.js';
import { currentDataFiles } from '../lake/reader.js';
import { liveRowsSql } from '../lake/scan.js';
import { findPostgresBinaries } from '../stack/postgres-binaries.js';
import { startPostgres } from '../stack/postgres.js';
import { startTemporalDevServer } from '../stack/temporal.js';
import { tempDir } from '../test/support/stack.js';
import { cpuSeconds, stopChild } from './proc.js';
import { benchStorage, describeRequests, startBenchS3, type BenchS3 } from './s3.js';

const clients = Number(process.env.BENCH_CLIENTS ?? 8);
const loadSeconds = Number(process.env.BENCH_SECONDS ?? 60);
const scale = Number(process.env.BENCH_SCALE ?? 10);
const SAMPLE_MS = 100;
const CATCH_UP_TARGET_MS = 2_000;
const root = join(import.meta.dirname, '..');
const bin = join(root, 'bin', 'pg-cdc.js');
const pgbenchBin = join(findPostgresBinaries().binDir, 'pgbench');
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

// Per-row hashes over columns whose text forms agree in PostgreSQL and DuckDB (integers), folded into one md5.
const TABLES: ReadonlyArray<[table: string, columns: readonly string[]]> = [
  ['pgbench_accounts', ['aid', 'bid', 'abalance']],
  ['pgbench_branches', ['bid', 'bbalance']],
  ['pgbench_tellers', ['tid', 'bid', 'tbalance']],
  ['pgbench_history', ['tid', 'bid', 'aid', 'delta', 'mtime']],
];
const rowHash = (columns: readonly string[], alias: string, cast: string, time: (column: string) => string): string =>
  `md5(${columns.map((c) => (c === 'mtime' ? time(alias + c) : `${alias}${c}::${cast}`)).join(` || '|' || `)})`;

interface Sample {
  readonly at: number;
  readonly active: boolean;
  readonly wal: bigint;
  readonly confirmed: bigint;
}

interface OltpRun {
  readonly tps: number;
  readonly lagBytes: readonly number[];
  readonly lagMs: readonly number[];
  readonly catchUpMs: number;
  /** CPU seconds (all threads) of `pg-cdc start` per second of load: what keeping up costs it. */
  readonly cpuPerLoadSecond: number;
  readonly peakRss: number;
}

function runPgbench(url: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(pgbenchBin, [...args, url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`pgbench ${args.join(' ')}: ${out}`))));
  });
}

async function runCli(config: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  // Not execFileSync: the S3 request-counting proxy runs on this process's event loop.
  const child = spawn(process.execPath, [bin, '--config', config, ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, ...env, PGCDC_LOG_LEVEL: 'warn' },
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`pg-cdc ${args.join(' ')} exited ${code}`);
}

/**
 * Seconds of lag at each sample: how long ago the WAL was first seen past the acknowledged position (to within one
 * sampling interval), 0 when the slot is acknowledged up to the WAL's end.
 */
function lagInTime(samples: readonly Sample[]): number[] {
  const lags: number[] = [];
  let first = 0;
  for (const sample of samples) {
    if (sample.confirmed >= sample.wal) {
      lags.push(0);
      continue;
    }
    // The acknowledged position only moves forward, so the first sample past it does too.
    while (first < samples.length - 1 && samples[first]!.wal <= sample.confirmed) first++;
    lags.push(sample.at - samples[first]!.at);
  }
  return lags;
}

/** Fails unless every pgbench table in the lake holds exactly the rows PostgreSQL holds. */
async function assertLakeEqual(configPath: string, source: pg.Client): Promise<void> {
  const config = await loadConfig(configPath);
  const lake = openLake(config);
  const duck = await openDuckDB({ threads: 1, store: lake.store });
  try {
    for (const [table, columns] of TABLES) {
      const pgHash = rowHash(columns, '', 'text', (c) => `to_char(${c}, 'YYYY-MM-DD HH24:MI:SS.US')`);
      const {
        rows: [expected],
      } = await source.query<{ n: string; digest: string | null }>(
        `SELECT count(*)::text AS n, md5(string_agg(h, ',' ORDER BY h)) AS digest FROM (SELECT ${pgHash} AS h FROM ${table}) s`,
      );
      const files = await currentDataFiles(lake.store, lake.catalog, `public.${table}`);
      const duckHash = rowHash(columns, 'd.', 'VARCHAR', (c) => `strftime(${c}, '%Y-%m-%d %H:%M:%S.%f')`);
      const live = liveRowsSql(files, { select: `${duckHash} AS h` });
      const reader = live
        ? await duck.connection.runAndReadAll(
            `SELECT count(*)::VARCHAR AS n, md5(string_agg(h, ',' ORDER BY h)) AS digest FROM (${live}) s`,
          )
        : undefined;
      const [actual] = (reader?.getRowObjectsJson() ?? [{ n: '0', digest: null }]) as {
        n: string;
        digest: string | null;
      }[];
      if (expected!.n !== actual!.n || expected!.digest !== actual!.digest) {
        throw new Error(
          `${table}: PostgreSQL has ${expected!.n} rows (md5 ${expected!.digest}), the lake ${actual!.n} (md5 ${actual!.digest})`,
        );
      }
    }
  } finally {
    duck.close();
  }
}

const work = tempDir('pg-cdc-bench-oltp-');
const postgres = await startPostgres({ dataDir: join(work, 'pg', 'data'), durable: false, walLevel: 'logical' });
const s3: BenchS3 | undefined = benchStorage() === 's3' ? await startBenchS3() : undefined;
// The lake check reads the S3 lake from this process, through the default credential chain.
if (s3) Object.assign(process.env, s3.env);

async function run(label: 'filesystem' | 's3'): Promise<OltpRun> {
  const url = await postgres.createDatabase(`bench_${label}`);
  // Its own Temporal dev server: the S3 run's table actors have the same ids as the filesystem run's.
  const temporal = await startTemporalDevServer({ stateDir: join(work, `temporal-${label}`), ui: false });
  const slot = `pg_cdc_slot_${label}`;
  const config = join(work, `pg-cdc-${label}.yml`);
  writeFileSync(
    config,
    [
      `state_dir: ${join(work, `state-${label}`)}`,
      `source:\n  postgres:\n    url: ${url}`,
      `temporal:\n  address: ${temporal.address}\n  task_queue: bench`,
      'log:\n  level: warn',
      'flush:\n  interval_sec: 1',
      `replication:\n  slot: ${slot}\n  publication: pg_cdc_pub_${label}`,
      ...(label === 's3' && s3 ? [s3.storageYaml] : []),
    ].join('\n'),
  );
  const env = label === 's3' ? (s3?.env ?? {}) : {};
  const source = new pg.Client({ connectionString: url });
  await source.connect();
  let stream: ChildProcess | undefined;
  try {
    await runPgbench(url, ['-i', '-s', String(scale), '-q']);
    // pgbench_history has no primary key: its rows are matched by all their columns.
    await source.query('ALTER TABLE pgbench_history REPLICA IDENTITY FULL');
    await runCli(config, ['init'], env);

    let peakRss = 0;
    // BENCH_LOG=<file> keeps the stream's debug log (epoch commits with their timings), the last run's.
    const logFile = process.env.BENCH_LOG ? openSync(process.env.BENCH_LOG, 'w') : 'inherit';
    const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    stream = spawn(process.execPath, [...nodeArgs, bin, '--config', config, 'start', '--no-metrics'], {
      stdio: ['ignore', 'ignore', logFile],
      env: { ...process.env, ...env, PGCDC_LOG_LEVEL: process.env.BENCH_LOG ? 'debug' : 'warn' },
    });
    if (typeof logFile === 'number') closeSync(logFile);
    const sample = async (): Promise<Sample> => {
      const { rows } = await source.query<{ wal: string; confirmed: string | null; active: boolean }>(
        `SELECT pg_current_wal_lsn()::text AS wal, confirmed_flush_lsn::text AS confirmed, active
           FROM pg_replication_slots WHERE slot_name = $1`,
        [slot],
      );
      try {
        const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${stream?.pid}/status`, 'utf8'));
        peakRss = Math.max(peakRss, Number(match?.[1] ?? 0) * 1024);
      } catch {
        // gone
      }
      const row = rows[0]!;
      return {
        at: performance.now(),
        active: row.active,
        wal: parseLsn(row.wal),
        confirmed: parseLsn(row.confirmed ?? '0/0'),
      };
    };
    // Streaming once the slot is in use and acknowledged up to the WAL's end (the snapshot's tables are idle).
    for (const deadline = Date.now() + 60_000; ;) {
      const now = await sample();
      if (now.active && now.confirmed >= now.wal) break;
      if (stream.exitCode !== null) throw new Error(`pg-cdc start exited ${stream.exitCode}`);
      if (Date.now() > deadline) throw new Error('pg-cdc start did not reach the WAL end in 60 s');
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
    }

    const samples: Sample[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push(await sample());
        await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
      }
    })();
    const cpuBefore = cpuSeconds(stream.pid);
    const output = await runPgbench(url, ['-c', String(clients), '-j', '2', '-T', String(loadSeconds), '-n']);
    sampling = false;
    await sampler;
    const loadEnd = await sample();
    const cpuDuringLoad = cpuSeconds(stream.pid) - cpuBefore;
    let caughtUp = loadEnd;
    while (caughtUp.confirmed < loadEnd.wal) {
      if (stream.exitCode !== null) throw new Error(`pg-cdc start exited ${stream.exitCode}`);
      if (caughtUp.at - loadEnd.at > 120_000) throw new Error('the slot was not acknowledged in 120 s after the load');
      await new Promise((resolve) => setTimeout(resolve, 20));
      caughtUp = await sample();
    }
    if ((await stopChild(stream)) !== 0) throw new Error('pg-cdc start did not stop cleanly');
    stream = undefined;
    await assertLakeEqual(config, source);
    return {
      tps: Number(/tps = ([\d.]+)/.exec(output)?.[1] ?? NaN),
      lagBytes: samples.map((s) => Number(s.wal > s.confirmed ? s.wal - s.confirmed : 0n)),
      lagMs: lagInTime(samples),
      catchUpMs: caughtUp.at - loadEnd.at,
      cpuPerLoadSecond: cpuDuringLoad / loadSeconds,
      peakRss,
    };
  } finally {
    await stopChild(stream);
    await source.end();
    await temporal.stop();
  }
}

function report(label: string, result: OltpRun): void {
  const { lagBytes, lagMs } = result;
  say(`${label}: pgbench ${result.tps.toFixed(0)} tps`);
  say(
    `  slot lag during the load (${lagBytes.length} samples, every ${SAMPLE_MS} ms): ` +
      `bytes p50 ${mib(percentile(lagBytes, 50))}, p95 ${mib(percentile(lagBytes, 95))}, max ${mib(Math.max(...lagBytes))}; ` +
      `seconds p50 ${secs(percentile(lagMs, 50))}, p95 ${secs(percentile(lagMs, 95))}, max ${secs(Math.max(...lagMs))}`,
  );
  say(
    `  load's end → slot acknowledged past it: ${secs(result.catchUpMs)} ` +
      `(target ≤ ${secs(CATCH_UP_TARGET_MS)}: ${result.catchUpMs <= CATCH_UP_TARGET_MS ? 'met' : 'NOT met'})`,
  );
  say(
    `  CPU of pg-cdc start during the load: ${result.cpuPerLoadSecond.toFixed(2)} s per second; ` +
      `peak RSS ${Math.round(result.peakRss / 2 ** 20)} MiB; load average at the end ${loadavg()[0]!.toFixed(1)}; ` +
      'lake equal to PostgreSQL: yes',
  );
}

try {
  say(
    `bench:oltp — pgbench TPC-B, scale ${scale}, ${clients} clients, ${loadSeconds} s, flush.interval_sec 1, ` +
      `PostgreSQL ${postgres.version}`,
  );
  const onFilesystem = await run('filesystem');
  report('filesystem', onFilesystem);
  if (s3) {
    const before = s3.requests();
    const onS3 = await run('s3');
    report('S3 (moto)', onS3);
    const ratio = (a: number, b: number): string => (b === 0 ? 'n/a' : (a / b).toFixed(2));
    say(
      `  ratio S3/filesystem: catch-up ${ratio(onS3.catchUpMs, onFilesystem.catchUpMs)}, ` +
        `lag p95 seconds ${ratio(percentile(onS3.lagMs, 95), percentile(onFilesystem.lagMs, 95))}, ` +
        `lag p95 bytes ${ratio(percentile(onS3.lagBytes, 95), percentile(onFilesystem.lagBytes, 95))}, ` +
        `tps ${ratio(onS3.tps, onFilesystem.tps)}`,
    );
    say(`  requests to S3: ${describeRequests(before, s3.requests())}`);
  }
} finally {
  await s3?.stop();
  await postgres.stop();
  rmSync(work, { recursive: true, force: true });
}
