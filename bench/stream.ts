/**
 * npm run bench:stream — the same WAL drained by `pg_recvlogical` (pgoutput, to /dev/null) and by `pg-cdc start`
 * (until committed in Iceberg), in one run; then commit-to-queryable latency for a steady trickle. Prints both
 * rates, their ratio (target >= 1.5) and latency p50/p99 (target p50 <= flush.interval_sec + 0.5 s).
 * BENCH_INSERTS / BENCH_UPDATES override the 1 M inserts and 100 k updates; BENCH_FLUSH_SEC the flush interval.
 * BENCH_STORAGE=s3 also drains the same WAL into a lake on S3 (moto behind a request-counting proxy, a slot, a
 * publication and a Temporal dev server of its own) after the filesystem run, and prints the ratio of the two and
 * the requests per epoch.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseLsn } from '../core/lsn/index.js';
import { summaryLsn } from '../lake/contract/index.js';
import { currentSnapshot } from '../lake/iceberg/metadata.js';
import { loadTableMetadata } from '../lake/iceberg/table.js';
import { openLake } from '../lake/open.js';
import { findPostgresBinaries } from '../stack/postgres-binaries.js';
import { startPostgres } from '../stack/postgres.js';
import { startTemporalDevServer } from '../stack/temporal.js';
import { tempDir } from '../test/support/stack.js';
import { cpuSeconds, cpuSecondsByThread, cpuUserSystem, stopChild } from './proc.js';
import { benchStorage, describeRequests, startBenchS3 } from './s3.js';

const inserts = Number(process.env.BENCH_INSERTS ?? 1_000_000);
const updates = Number(process.env.BENCH_UPDATES ?? 100_000);
const flushSec = Number(process.env.BENCH_FLUSH_SEC ?? 1);
const root = join(import.meta.dirname, '..');
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const perSecond = (n: number, ms: number): string => `${Math.round(n / (ms / 1000)).toLocaleString('en-US')} changes/s`;
const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};

const work = tempDir('pg-cdc-bench-stream-');
const postgres = await startPostgres({ dataDir: join(work, 'pg', 'data'), durable: false, walLevel: 'logical' });
const temporal = await startTemporalDevServer({ stateDir: join(work, 'temporal'), ui: false });
// The S3 run's table actor is `table:public.orders` too: it gets a Temporal server of its own.
const s3 = benchStorage() === 's3' ? await startBenchS3() : undefined;
const s3Temporal = s3 && (await startTemporalDevServer({ stateDir: join(work, 'temporal-s3'), ui: false }));
let stream: ChildProcess | undefined;
let s3Stream: ChildProcess | undefined;
try {
  say(
    `bench:stream — ${inserts.toLocaleString('en-US')} inserts + ${updates.toLocaleString('en-US')} updates, PostgreSQL ${postgres.version}`,
  );
  const url = await postgres.createDatabase('bench');
  const sql = async (text: string): Promise<Record<string, unknown>[]> =>
    (await postgres.query(text, [], 'bench')).rows;
  await sql(`CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, amount numeric(12,2) NOT NULL,
               status text NOT NULL, placed_at timestamptz NOT NULL)`);

  const state = join(work, 'state');
  const config = join(work, 'pg-cdc.yml');
  writeFileSync(
    config,
    [
      `state_dir: ${state}`,
      `source:\n  postgres:\n    url: ${url}`,
      `temporal:\n  address: ${temporal.address}\n  task_queue: bench`,
      'log:\n  level: warn',
      `flush:\n  interval_sec: ${flushSec}\n  max_rows: 200000`,
      'replication:\n  heartbeat_interval_sec: 0',
    ].join('\n'),
  );
  const bin = join(root, 'bin', 'pg-cdc.js');
  execFileSync(process.execPath, [bin, '--config', config, 'init'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const s3Config = join(work, 'pg-cdc-s3.yml');
  if (s3 && s3Temporal) {
    writeFileSync(
      s3Config,
      [
        `state_dir: ${join(work, 'state-s3')}`,
        `source:\n  postgres:\n    url: ${url}`,
        `temporal:\n  address: ${s3Temporal.address}\n  task_queue: bench`,
        'log:\n  level: warn',
        `flush:\n  interval_sec: ${flushSec}\n  max_rows: 200000`,
        'replication:\n  heartbeat_interval_sec: 0\n  slot: pg_cdc_slot_s3\n  publication: pg_cdc_pub_s3',
        s3.storageYaml,
      ].join('\n'),
    );
    // Not execFileSync: the request-counting proxy runs on this process's event loop.
    const init = spawn(process.execPath, [bin, '--config', s3Config, 'init'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, ...s3.env },
    });
    const code = await new Promise<number | null>((resolve) => init.once('exit', resolve));
    if (code !== 0) throw new Error(`pg-cdc init (S3) exited ${code}`);
  }
  await sql(`SELECT pg_create_logical_replication_slot('bench_recv', 'pgoutput')`);

  // The workload: inserts in transactions of 10 000 rows, then updates in transactions of 10 000.
  let started = Date.now();
  const txnRows = Number(process.env.BENCH_TXN_ROWS ?? 10_000);
  for (let from = 1; from <= inserts; from += txnRows) {
    const to = Math.min(inserts, from + txnRows - 1);
    await sql(
      `INSERT INTO orders SELECT g, g % 5000, (g % 10000) / 7.0, 'new', now() FROM generate_series(${from}, ${to}) g`,
    );
  }
  for (let from = 1; from <= updates; from += 10_000) {
    const to = Math.min(updates, from + 9_999);
    await sql(`UPDATE orders SET status = 'paid', amount = amount + 1 WHERE id BETWEEN ${from} AND ${to}`);
  }
  const [{ end }] = (await sql(`SELECT pg_current_wal_lsn()::text AS end`)) as [{ end: string }];
  const changes = inserts + updates;
  say(`workload written in ${((Date.now() - started) / 1000).toFixed(1)} s, WAL end ${end}`);

  const recv = join(findPostgresBinaries().binDir, 'pg_recvlogical');
  // A walsender's CPU, read from /proc while it runs (the last reading before its client is done). User and system
  // time apart: a client that takes each message as it comes makes the walsender send them one system call each.
  type WalsenderCpu = { user: number; system: number };
  const walsenderCpu = async (slot: string): Promise<WalsenderCpu | undefined> => {
    const [row] = (await sql(`SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = '${slot}'`)) as [
      { pid: number | null } | undefined,
    ];
    const cpu = row?.pid ? cpuUserSystem(row.pid) : undefined;
    return cpu && !Number.isNaN(cpu.user) ? cpu : undefined;
  };
  const describeCpu = (cpu: WalsenderCpu | undefined): string =>
    cpu
      ? `${(cpu.user + cpu.system).toFixed(1)} s (user ${cpu.user.toFixed(1)} s, system ${cpu.system.toFixed(1)} s)`
      : 'not read';
  const childCpuBefore = cpuSeconds(process.pid, { children: true });
  started = Date.now();
  const recvChild = spawn(
    recv,
    [
      '-d',
      url,
      '-S',
      'bench_recv',
      '--start',
      '-E',
      end,
      '-o',
      'proto_version=1',
      '-o',
      'publication_names=pg_cdc_pub',
      '-f',
      '/dev/null',
      '--no-loop',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const recvExit = new Promise<number | null>((resolve) => recvChild.once('exit', resolve));
  let recvWalsenderCpu: WalsenderCpu | undefined;
  for (let done = false; !done;) {
    done = await Promise.race([
      recvExit.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 100)),
    ]);
    if (!done) recvWalsenderCpu = (await walsenderCpu('bench_recv').catch(() => undefined)) ?? recvWalsenderCpu;
  }
  if ((await recvExit) !== 0) throw new Error(`pg_recvlogical exited ${recvChild.exitCode}`);
  const recvMs = Date.now() - started;
  const recvCpu = cpuSeconds(process.pid, { children: true }) - childCpuBefore;
  say(`pg_recvlogical (pgoutput → /dev/null):  ${(recvMs / 1000).toFixed(2)} s  ${perSecond(changes, recvMs)}`);
  say(`  CPU: pg_recvlogical ${recvCpu.toFixed(1)} s, its walsender ${describeCpu(recvWalsenderCpu)} (0.1 s samples)`);

  const { store, catalog } = openLake({
    storage: { type: 'filesystem', path: join(state, 'lake') },
    catalog: { type: 'local' },
  });
  const committedLsn = async (): Promise<bigint> => {
    const table = await loadTableMetadata(store, catalog, 'public.orders');
    const lsn = summaryLsn(currentSnapshot(table.metadata)?.summary);
    return lsn ? parseLsn(lsn) : 0n;
  };
  const target = parseLsn(end);
  let peakRss = 0;
  const rssSampler = setInterval(() => {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${stream?.pid}/status`, 'utf8'));
      peakRss = Math.max(peakRss, Number(match?.[1] ?? 0) * 1024);
    } catch {
      // not started yet, or gone
    }
  }, 100);
  started = Date.now();
  // BENCH_LOG=<file> keeps the stream's debug log (epoch commits with their timings) for a closer look.
  const logFile = process.env.BENCH_LOG ? openSync(process.env.BENCH_LOG, 'w') : 'ignore';
  const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  stream = spawn(process.execPath, [...nodeArgs, bin, '--config', config, 'start', '--no-metrics'], {
    stdio: ['ignore', 'ignore', logFile === 'ignore' ? 'inherit' : logFile],
    env: { ...process.env, PGCDC_LOG_LEVEL: process.env.BENCH_LOG ? 'debug' : 'warn' },
  });
  for (;;) {
    const lsn = await committedLsn().catch(() => 0n);
    // The committed LSN is the commit LSN of the newest transaction in the lake; the workload's last commit is
    // within a few hundred bytes of `end`.
    if (lsn > 0n && target - lsn < 4096n) break;
    if (stream.exitCode !== null) throw new Error(`pg-cdc start exited ${stream.exitCode}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const streamMs = Date.now() - started;
  clearInterval(rssSampler);
  const streamCpu = cpuSeconds(stream.pid);
  const threads = cpuSecondsByThread(stream.pid);
  const streamWalsenderCpu = await walsenderCpu('pg_cdc_slot').catch(() => undefined);
  say(
    `pg-cdc start (process start → committed in Iceberg):  ${(streamMs / 1000).toFixed(2)} s  ${perSecond(changes, streamMs)}`,
  );
  say(`  peak RSS of pg-cdc start while draining: ${Math.round(peakRss / 2 ** 20)} MiB`);
  // On two cores the walsender takes one; what pg-cdc spends per change decides how close the ratio can get.
  if (!Number.isNaN(streamCpu)) {
    say(
      `  CPU of pg-cdc start (user + system, DuckDB threads included): ${streamCpu.toFixed(1)} s, ` +
        `${((streamCpu / changes) * 1e6).toFixed(1)} µs per change`,
    );
    const shown = threads.filter(([, seconds]) => seconds >= 0.1);
    say(`  by thread: ${shown.map(([name, seconds]) => `${name} ${seconds.toFixed(1)} s`).join(', ')}`);
    say(`  CPU of its walsender: ${describeCpu(streamWalsenderCpu)}`);
  }
  say(`ratio pg-cdc/pg_recvlogical:  ${(recvMs / streamMs).toFixed(2)}  (target >= 1.50)`);

  // Latency: one small transaction every 250 ms; each is queryable once the table's committed LSN reaches it.
  const latencies: number[] = [];
  for (let i = 0; i < 40; i++) {
    // The insert's commit LSN lies after the WAL position read just before it, and the previous one's before it.
    const before = parseLsn(String((await sql(`SELECT pg_current_wal_lsn()::text AS lsn`))[0]!.lsn));
    await sql(`INSERT INTO orders VALUES (${inserts + 1 + i}, 1, 1, 'trickle', now())`);
    const committedAt = Date.now();
    const wanted = before + 1n;
    void (async () => {
      for (;;) {
        if ((await committedLsn().catch(() => 0n)) >= wanted) {
          latencies.push(Date.now() - committedAt);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const deadline = Date.now() + 60_000;
  while (latencies.length < 40 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  say(
    `commit-to-queryable latency (${latencies.length} trickle transactions, flush.interval_sec ${flushSec}): ` +
      `p50 ${(percentile(latencies, 50) / 1000).toFixed(2)} s, p99 ${(percentile(latencies, 99) / 1000).toFixed(2)} s ` +
      `(target p50 <= ${(flushSec + 0.5).toFixed(1)} s)`,
  );

  if (s3) {
    // The same WAL (the workload and the trickle), drained into the lake on S3 by a second `pg-cdc start`, alone.
    await stopChild(stream);
    // Done when the S3 lake holds what the filesystem lake holds: the WAL's end lies beyond the last commit by
    // whatever else was logged since (checkpoints, the slots' own records).
    const s3Target = await committedLsn();
    const s3Lake = openLake({
      storage: {
        type: 's3',
        bucket: 'bench',
        prefix: 'lake',
        endpoint: /endpoint: (\S+)/.exec(s3.storageYaml)![1]!,
        region: 'us-east-1',
        force_path_style: true,
        max_attempts: 5,
        conflict_breaker: { max_conflicts: 10, window_sec: 60 },
      },
      catalog: { type: 'local' },
      state_dir: join(work, 'reader'),
    });
    Object.assign(process.env, s3.env);
    const s3Snapshot = async () =>
      currentSnapshot((await loadTableMetadata(s3Lake.store, s3Lake.catalog, 'public.orders')).metadata);
    const before = s3.requests();
    const epochsBefore = Number((await s3Snapshot())?.summary['pgcdc.epoch'] ?? 0);
    started = Date.now();
    s3Stream = spawn(process.execPath, [bin, '--config', s3Config, 'start', '--no-metrics'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, ...s3.env, PGCDC_LOG_LEVEL: 'warn' },
    });
    for (;;) {
      const summary = (await s3Snapshot().catch(() => undefined))?.summary;
      const lsn = summaryLsn(summary);
      if (lsn && parseLsn(lsn) >= s3Target) break;
      if (s3Stream.exitCode !== null) throw new Error(`pg-cdc start (S3) exited ${s3Stream.exitCode}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const s3Ms = Date.now() - started;
    const requests = s3.requests();
    const epochs = Number((await s3Snapshot())?.summary['pgcdc.epoch'] ?? 0) - epochsBefore;
    say(
      `pg-cdc start on S3 (moto), the same WAL:  ${(s3Ms / 1000).toFixed(2)} s  ${perSecond(changes + 40, s3Ms)}; ` +
        `ratio S3/filesystem ${(s3Ms / streamMs).toFixed(2)} (time)`,
    );
    say(
      `  ${epochs} epochs; requests ${describeRequests(before, requests)} ` +
        `(the reader's polling included); PUTs per epoch ${(((requests.PUT ?? 0) - (before.PUT ?? 0)) / Math.max(1, epochs)).toFixed(1)}`,
    );
  }
} finally {
  await stopChild(stream);
  await stopChild(s3Stream);
  await s3Temporal?.stop();
  await s3?.stop();
  await temporal.stop();
  await postgres.stop();
  rmSync(work, { recursive: true, force: true });
}
