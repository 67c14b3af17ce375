/**
 * npm run bench:bigtxn — one transaction of 5 M rows (`BIGTXN_ROWS`) through a running `pg-cdc start`: the peak RSS
 * of the process (target <= 512 MiB, `memory.limit_mb`'s default), where that memory went at its peak (from the
 * process's `memory` debug lines: Node's heap and buffers, each DuckDB, the spool's buffers, the locators' caches),
 * and the seconds from the COMMIT until every row is in the lake. Then the lake is checked against PostgreSQL
 * (row count and column sums over every live row, deletes applied). `BENCH_MEMORY_MB` sets `memory.limit_mb`;
 * `BENCH_LOG=<file>` keeps the process's debug log, `BENCH_NODE_ARGS` adds Node options.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseLsn } from '../core/lsn/index.js';
import { summaryLsn } from '../lake/contract/index.js';
import { currentSnapshot } from '../lake/iceberg/metadata.js';
import { loadTableMetadata } from '../lake/iceberg/table.js';
import { openLake } from '../lake/open.js';
import { currentDataFiles } from '../lake/reader.js';
import { openDuckDB } from '../lake/parquet/writer.js';
import { liveRowsSql } from '../lake/scan.js';
import { startPostgres } from '../stack/postgres.js';
import { startTemporalDevServer } from '../stack/temporal.js';
import { tempDir } from '../test/support/stack.js';
import { cpuSeconds, stopChild } from './proc.js';
import { describeMemory, peakMemoryLine, RssSampler } from './memory.js';

const rows = Number(process.env.BIGTXN_ROWS ?? 5_000_000);
const memoryMb = process.env.BENCH_MEMORY_MB;
const root = join(import.meta.dirname, '..');
const bin = join(root, 'bin', 'pg-cdc.js');
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
// The columns summed on both sides: equal sums over every row say the lake holds the source's rows.
const CHECK = `count(*) AS n, sum(id) AS ids, sum(customer_id) AS customers, sum(amount) AS amounts,
  sum(length(status)) AS statuses, sum(length(note)) AS notes, sum(epoch(placed_at)) AS times`;

const work = tempDir('pg-cdc-bench-bigtxn-');
const postgres = await startPostgres({ dataDir: join(work, 'pg', 'data'), durable: false, walLevel: 'logical' });
const temporal = await startTemporalDevServer({ stateDir: join(work, 'temporal'), ui: false });
let stream: ChildProcess | undefined;
try {
  say(`bench:bigtxn — ${rows.toLocaleString('en-US')} rows in one transaction, PostgreSQL ${postgres.version}`);
  const url = await postgres.createDatabase('bench');
  const sql = async (text: string): Promise<Record<string, unknown>[]> =>
    (await postgres.query(text, [], 'bench')).rows;
  await sql(`CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, amount numeric(12,2) NOT NULL,
               status text NOT NULL, placed_at timestamptz NOT NULL, note text)`);

  const state = join(work, 'state');
  const config = join(work, 'pg-cdc.yml');
  writeFileSync(
    config,
    [
      `state_dir: ${state}`,
      `source:\n  postgres:\n    url: ${url}`,
      `temporal:\n  address: ${temporal.address}\n  task_queue: bench`,
      'log:\n  level: debug\n  format: json',
      'flush:\n  interval_sec: 1',
      'replication:\n  heartbeat_interval_sec: 0',
      ...(memoryMb ? [`memory:\n  limit_mb: ${memoryMb}`] : []),
    ].join('\n'),
  );
  const init = spawnSync(process.execPath, [bin, '--config', config, 'init'], { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`pg-cdc init exited ${init.status}: ${init.stderr}`);

  const { store, catalog } = openLake({
    storage: { type: 'filesystem', path: join(state, 'lake') },
    catalog: { type: 'local' },
  });
  const committedLsn = async (): Promise<bigint> => {
    const table = await loadTableMetadata(store, catalog, 'public.orders');
    const lsn = summaryLsn(currentSnapshot(table.metadata)?.summary);
    return lsn ? parseLsn(lsn) : 0n;
  };

  const logPath = join(work, 'start.log');
  const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  stream = spawn(process.execPath, [...nodeArgs, bin, '--config', config, 'start', '--no-metrics'], {
    stdio: ['ignore', 'ignore', openSync(logPath, 'w')],
    env: { ...process.env, PGCDC_LOG_LEVEL: 'debug' },
  });
  const sampler = new RssSampler(stream.pid!);
  // Streaming: the slot is read, and the Temporal side (its packages, DuckDB) has loaded.
  for (;;) {
    if (stream.exitCode !== null) throw new Error(`pg-cdc start exited ${stream.exitCode}; see ${logPath}`);
    if (readFileSync(logPath, 'utf8').includes('"msg":"streaming"')) break;
    await sleep(100);
  }
  await sleep(2_000);
  say(`pg-cdc start idle, streaming: RSS ${sampler.currentMiB()} MiB (peak so far ${sampler.peakMiB()} MiB)`);

  const before = parseLsn(String((await sql(`SELECT pg_current_wal_lsn()::text AS lsn`))[0]!.lsn));
  let started = Date.now();
  await sql(
    `INSERT INTO orders SELECT g, g % 5000, (g % 10000) / 7.0, CASE WHEN g % 3 = 0 THEN 'paid' ELSE 'new' END,
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second',
       CASE WHEN g % 4 = 0 THEN NULL ELSE 'note ' || g END
     FROM generate_series(1, ${rows}) g`,
  );
  const committedAt = Date.now();
  say(`the transaction took ${seconds(committedAt - started)} up to its COMMIT`);
  const cpuBefore = cpuSeconds(stream.pid);
  // Only this transaction touches the table: any committed LSN past `before` is its commit.
  for (;;) {
    if ((await committedLsn().catch(() => 0n)) > before) break;
    if (stream.exitCode !== null) throw new Error(`pg-cdc start exited ${String(stream.exitCode)}; see ${logPath}`);
    // An epoch that failed for good is logged at error level with its table; it would never arrive.
    const failure = readFileSync(logPath, 'utf8')
      .split('\n')
      .find((line) => line.startsWith('{"level":50') && line.includes('"epoch"'));
    if (failure) throw new Error(`the epoch failed: ${failure.slice(0, 2000)}`);
    await sleep(100);
  }
  const lakeMs = Date.now() - committedAt;
  const cpu = cpuSeconds(stream.pid) - cpuBefore;
  sampler.stop();
  say(`COMMIT → all rows in the lake: ${seconds(lakeMs)} (CPU of pg-cdc start meanwhile ${cpu.toFixed(1)} s)`);
  say(`peak RSS of pg-cdc start: ${sampler.peakMiB()} MiB (target <= ${memoryMb ?? 512} MiB)`);
  const log = readFileSync(logPath, 'utf8');
  const peak = peakMemoryLine(log);
  if (peak) say(`  at its highest memory line: ${describeMemory(peak)}`);
  else say('  (no memory lines in the log: this pg-cdc start does not write them)');
  if (process.env.BENCH_LOG) copyFileSync(logPath, process.env.BENCH_LOG);

  // The lake against the source: every live row, deletes applied, read by DuckDB.
  started = Date.now();
  const [source] = await sql(
    `SELECT ${CHECK.replace('epoch(placed_at)', 'extract(epoch FROM placed_at)')} FROM orders`,
  );
  const files = await currentDataFiles(store, catalog, 'public.orders');
  const duck = await openDuckDB({ threads: 1, memoryLimit: '512MB' });
  let lake: Record<string, unknown>;
  try {
    lake = (await duck.connection.runAndReadAll(liveRowsSql(files, { select: CHECK })!)).getRowObjectsJson()[0]!;
  } finally {
    duck.close();
  }
  const normal = (row: Record<string, unknown>): string[] =>
    Object.values(row).map((value) => (value === null ? 'null' : Number(value).toFixed(2)));
  const equal = JSON.stringify(normal(source!)) === JSON.stringify(normal(lake));
  say(
    `lake = source: ${equal ? 'yes' : 'NO'} (${Number(lake.n).toLocaleString('en-US')} rows; count and sums of every column, checked in ${seconds(Date.now() - started)})`,
  );
  if (!equal) {
    say(`  source ${JSON.stringify(source)}\n  lake   ${JSON.stringify(lake)}`);
    process.exitCode = 1;
  }
} finally {
  await stopChild(stream);
  await temporal.stop();
  await postgres.stop();
  rmSync(work, { recursive: true, force: true });
}
