/**
 * bench:alter — what a column change costs a running stream: a steady trickle of small transactions into a table
 * of BENCH_ROWS rows (default 100 000) under `pg-cdc start`, each timed from its commit to the moment the table's
 * committed LSN covers it; halfway, an ALTER (BENCH_ALTER, default an ADD COLUMN with a constant default, which
 * also fills the rows already in the lake). Prints the commit-to-queryable latency before and right after the ALTER
 * and the lag it added (target < 2 s).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseLsn } from '../core/lsn/index.js';
import { summaryLsn } from '../lake/contract/index.js';
import { currentSnapshot } from '../lake/iceberg/metadata.js';
import { loadTableMetadata } from '../lake/iceberg/table.js';
import { openLake } from '../lake/open.js';
import { startPostgres } from '../stack/postgres.js';
import { startTemporalDevServer } from '../stack/temporal.js';
import { tempDir } from '../test/support/stack.js';

const rows = Number(process.env.BENCH_ROWS ?? 100_000);
const alter = process.env.BENCH_ALTER ?? "ADD COLUMN note text DEFAULT 'backfilled'";
const flushSec = Number(process.env.BENCH_FLUSH_SEC ?? 0.5);
const trickle = 24;
const root = join(import.meta.dirname, '..');
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const work = tempDir('pg-cdc-bench-alter-');
const postgres = await startPostgres({ dataDir: join(work, 'pg', 'data'), durable: false, walLevel: 'logical' });
const temporal = await startTemporalDevServer({ stateDir: join(work, 'temporal'), ui: false });
let stream: ChildProcess | undefined;
try {
  say(
    `bench:alter — ${rows.toLocaleString('en-US')} rows, ALTER TABLE orders ${alter}, PostgreSQL ${postgres.version}`,
  );
  const url = await postgres.createDatabase('bench');
  const sql = async (text: string): Promise<Record<string, unknown>[]> =>
    (await postgres.query(text, [], 'bench')).rows;
  await sql(`CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, amount numeric(12,2) NOT NULL,
               status text NOT NULL)`);
  await sql(`INSERT INTO orders SELECT g, g % 5000, (g % 10000) / 7.0, 'new' FROM generate_series(1, ${rows}) g`);
  const state = join(work, 'state');
  const config = join(work, 'pg-cdc.yml');
  writeFileSync(
    config,
    [
      `state_dir: ${state}`,
      `source:\n  postgres:\n    url: ${url}`,
      `temporal:\n  address: ${temporal.address}\n  task_queue: bench`,
      'log:\n  level: warn',
      `flush:\n  interval_sec: ${flushSec}`,
      'replication:\n  heartbeat_interval_sec: 0',
    ].join('\n'),
  );
  const bin = join(root, 'bin', 'pg-cdc.js');
  execFileSync(process.execPath, [bin, '--config', config, 'init'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const { store, catalog } = openLake({
    storage: { type: 'filesystem', path: join(state, 'lake') },
    catalog: { type: 'local' },
  });
  const committedLsn = async (): Promise<bigint> => {
    const lsn = summaryLsn(
      currentSnapshot((await loadTableMetadata(store, catalog, 'public.orders')).metadata)?.summary,
    );
    return lsn ? parseLsn(lsn) : 0n;
  };
  stream = spawn(process.execPath, [bin, '--config', config, 'start', '--no-metrics'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, PGCDC_LOG_LEVEL: 'warn' },
  });
  // Warm up: the first epoch builds the table's locator.
  await sql(`INSERT INTO orders (id, customer_id, amount, status) VALUES (${rows + 1}, 1, 1, 'warm')`);
  const warm = parseLsn(String((await sql(`SELECT pg_current_wal_lsn()::text AS lsn`))[0]!.lsn));
  while ((await committedLsn().catch(() => 0n)) < warm - 4096n) {
    if (stream.exitCode !== null) throw new Error(`pg-cdc start exited ${stream.exitCode}`);
    await sleep(100);
  }
  await sleep(2000);

  const latencies: { i: number; ms: number }[] = [];
  let alteredAt = 0;
  for (let i = 0; i < trickle; i++) {
    if (i === trickle / 2) {
      await sql(`ALTER TABLE orders ${alter}`);
      alteredAt = i;
    }
    const before = parseLsn(String((await sql(`SELECT pg_current_wal_lsn()::text AS lsn`))[0]!.lsn));
    await sql(`INSERT INTO orders (id, customer_id, amount, status) VALUES (${rows + 2 + i}, 1, 1, 'trickle')`);
    const committedAt = Date.now();
    void (async () => {
      for (;;) {
        if ((await committedLsn().catch(() => 0n)) > before)
          return void latencies.push({ i, ms: Date.now() - committedAt });
        await sleep(25);
      }
    })();
    await sleep(250);
  }
  const deadline = Date.now() + 60_000;
  while (latencies.length < trickle && Date.now() < deadline) await sleep(100);
  if (stream.exitCode !== null) throw new Error(`pg-cdc start exited ${stream.exitCode}`);
  // The steady state: the last six before the ALTER (the first ones may still wait behind the start's catch-up).
  const before = latencies.filter((l) => l.i < alteredAt && l.i >= alteredAt - 6).map((l) => l.ms);
  const after = latencies.filter((l) => l.i >= alteredAt && l.i < alteredAt + 4).map((l) => l.ms);
  const added = Math.max(0, Math.max(...after) - median(before));
  const series = [...latencies].sort((a, b) => a.i - b.i);
  say(`latencies (s), the ALTER before #${alteredAt}: ${series.map((l) => (l.ms / 1000).toFixed(2)).join(' ')}`);
  say(
    `commit-to-queryable latency before the ALTER: p50 ${(median(before) / 1000).toFixed(2)} s (${before.length} transactions)`,
  );
  say(`right after it (the next 4 transactions): max ${(Math.max(...after) / 1000).toFixed(2)} s`);
  say(`lag added by the ALTER: ${(added / 1000).toFixed(2)} s (target < 2 s)`);
} finally {
  if (stream && stream.exitCode === null) {
    const child = stream;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
  await temporal.stop();
  await postgres.stop();
  rmSync(work, { recursive: true, force: true });
}
