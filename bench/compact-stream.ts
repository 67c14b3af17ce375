/**
 * npm run bench:compact-stream — stream throughput while a compaction runs, against without (target ≥ 0.8). A
 * table of BENCH_ROWS rows (1 M) in a PostgreSQL of its own is snapshotted by `pg-cdc init` and streamed by
 * `pg-cdc start` (flush.interval_sec 1). Then bursts of BENCH_UPDATES (300 k) pgbench-like updates (random rows,
 * transactions of BENCH_TXN_ROWS, 5,000) are written as fast as PostgreSQL takes them; a burst's throughput is its
 * changes over the time from its first write until the lake has committed its last. Every other burst runs
 * `pg-cdc compact --table … --force` from its first write (rewrite beside the epochs, commit, expiry and cleanup
 * in the table's actor), in BENCH_ROUNDS (3) pairs, each pair in the other order, after one burst to warm up.
 * It prints every burst, the medians, their ratio, the compactions' times and the peak RSS of `pg-cdc start`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseLsn } from '../core/lsn/index.js';
import { summaryLsn } from '../lake/contract/index.js';
import { currentSnapshot } from '../lake/iceberg/metadata.js';
import { loadTableMetadata } from '../lake/iceberg/table.js';
import { openLake } from '../lake/open.js';
import { startPostgres } from '../stack/postgres.js';
import { startTemporalDevServer } from '../stack/temporal.js';
import { tempDir } from '../test/support/stack.js';
import { median } from './stats.js';

const rows = Number(process.env.BENCH_ROWS ?? 1_000_000);
const updates = Number(process.env.BENCH_UPDATES ?? 300_000);
const txnRows = Number(process.env.BENCH_TXN_ROWS ?? 5_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const root = join(import.meta.dirname, '..');
const bin = join(root, 'bin', 'pg-cdc.js');
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const rate = (changes: number, ms: number): number => changes / (ms / 1000);
const perSecond = (value: number): string => `${Math.round(value).toLocaleString('en-US')} changes/s`;

const work = tempDir('pg-cdc-bench-compact-stream-');
const postgres = await startPostgres({ dataDir: join(work, 'pg', 'data'), durable: false, walLevel: 'logical' });
const temporal = await startTemporalDevServer({ stateDir: join(work, 'temporal'), ui: false });
let stream: ChildProcess | undefined;
try {
  say(
    `bench:compact-stream — ${rows.toLocaleString('en-US')} rows, bursts of ${updates.toLocaleString('en-US')} ` +
      `updates in transactions of ${txnRows.toLocaleString('en-US')}, PostgreSQL ${postgres.version}`,
  );
  const url = await postgres.createDatabase('bench');
  const sql = async (text: string): Promise<Record<string, unknown>[]> =>
    (await postgres.query(text, [], 'bench')).rows;
  await sql(`CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(12,2) NOT NULL,
               placed_at timestamptz NOT NULL, note text)`);
  await sql(
    `INSERT INTO orders SELECT g, 'customer-' || (g % 50000), (g % 100000) / 7.0, now(), ` +
      `CASE WHEN g % 4 = 0 THEN NULL ELSE 'note ' || md5(g::text) END FROM generate_series(1, ${rows}) g`,
  );

  const state = join(work, 'state');
  const config = join(work, 'pg-cdc.yml');
  writeFileSync(
    config,
    [
      `state_dir: ${state}`,
      `source:\n  postgres:\n    url: ${url}`,
      `temporal:\n  address: ${temporal.address}\n  task_queue: bench`,
      'log:\n  level: warn',
      'flush:\n  interval_sec: 1\n  max_rows: 200000',
      'replication:\n  heartbeat_interval_sec: 0',
      // Only the bench's own compactions run: the schedule's first is a day away.
      'compaction:\n  schedule: 24h',
    ].join('\n'),
  );
  execFileSync(process.execPath, [bin, '--config', config, 'init'], { stdio: ['ignore', 'ignore', 'inherit'] });

  const { store, catalog } = openLake({
    storage: { type: 'filesystem', path: join(state, 'lake') },
    catalog: { type: 'local' },
  });
  const committedLsn = async (): Promise<bigint> => {
    const table = await loadTableMetadata(store, catalog, 'public.orders');
    const lsn = summaryLsn(currentSnapshot(table.metadata)?.summary);
    return lsn ? parseLsn(lsn) : 0n;
  };
  const walEnd = async (): Promise<bigint> =>
    parseLsn(String((await sql('SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn));
  let peakRss = 0;
  const rssSampler = setInterval(() => {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${stream?.pid}/status`, 'utf8'));
      peakRss = Math.max(peakRss, Number(match?.[1] ?? 0) * 1024);
    } catch {
      // not started yet, or gone
    }
  }, 100);
  stream = spawn(process.execPath, [bin, '--config', config, 'start', '--no-metrics'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, PGCDC_LOG_LEVEL: 'warn' },
  });
  const waitCommitted = async (target: bigint): Promise<void> => {
    // The committed LSN is the newest commit in the lake; the burst's last commit lies just before `target`.
    while ((await committedLsn().catch(() => 0n)) + 4096n < target) {
      if (stream?.exitCode !== null) throw new Error(`pg-cdc start exited ${stream?.exitCode}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  /** One burst of updates to random rows; with `compact`, `pg-cdc compact` runs from its first write. */
  const burst = async (compact: boolean): Promise<{ ms: number; changes: number; compactMs?: number }> => {
    const started = performance.now();
    let compaction: Promise<number> | undefined;
    if (compact) {
      compaction = new Promise((resolve, reject) => {
        const child = spawn(
          process.execPath,
          [bin, '--config', config, 'compact', '--table', 'public.orders', '--force'],
          {
            stdio: ['ignore', 'ignore', 'inherit'],
          },
        );
        child.once('exit', (code) =>
          code === 0 ? resolve(performance.now() - started) : reject(new Error(`pg-cdc compact exited ${code}`)),
        );
      });
    }
    let changes = 0;
    while (changes < updates) {
      const [{ n }] = (await sql(
        `WITH u AS (UPDATE orders SET amount = amount + 1, note = 'burst ' || now() WHERE id = ANY(ARRAY(` +
          `SELECT 1 + (random() * ${rows - 1})::bigint FROM generate_series(1, ${txnRows}))) RETURNING 1) ` +
          'SELECT count(*)::int AS n FROM u',
      )) as [{ n: number }];
      changes += n;
    }
    await waitCommitted(await walEnd());
    const ms = performance.now() - started;
    return { ms, changes, ...(compaction ? { compactMs: await compaction } : {}) };
  };

  await waitCommitted(await walEnd());
  const warm = await burst(false);
  say(`warm-up burst: ${seconds(warm.ms)}, ${perSecond(rate(warm.changes, warm.ms))}`);
  const plain: number[] = [];
  const compacting: number[] = [];
  const compactions: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const compact of round % 2 === 0 ? [false, true] : [true, false]) {
      const result = await burst(compact);
      const value = rate(result.changes, result.ms);
      (compact ? compacting : plain).push(value);
      if (result.compactMs !== undefined) compactions.push(result.compactMs);
      say(
        `  round ${round + 1}, ${compact ? 'while compacting' : 'alone           '}: ${result.changes.toLocaleString('en-US')} ` +
          `changes committed in ${seconds(result.ms)}, ${perSecond(value)}` +
          (result.compactMs === undefined ? '' : ` (pg-cdc compact took ${seconds(result.compactMs)})`),
      );
    }
  }
  clearInterval(rssSampler);
  say(
    `stream throughput: alone ${perSecond(median(plain))}, while compacting ${perSecond(median(compacting))} (medians); ` +
      `ratio ${(median(compacting) / median(plain)).toFixed(2)} (target ≥ 0.8)`,
  );
  say(`pg-cdc compact: ${compactions.map(seconds).join(', ')}`);
  say(`peak RSS of pg-cdc start: ${Math.round(peakRss / 2 ** 20)} MiB`);
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
