/**
 * npm run bench:epoch — the cost of one flush epoch against a small and a large state table (1 M and 10 M rows;
 * BENCH_SIZES=1000000,10000000 overrides). Each base is generated as Parquet by DuckDB and committed as epoch 0.
 * Every epoch holds 1,000 updates + 100 deletes + 1,000 inserts (BENCH_UPDATES, BENCH_DELETES, BENCH_INSERTS) in
 * 100 transactions. Epoch 1 builds the table's locator from the lake and is timed apart; then BENCH_ROUNDS (default
 * 5) steady-state epochs run per table, alternating between the tables so that load from elsewhere on the machine
 * falls on both alike. The point: the steady-state epoch must not grow with the table (ratio near 1).
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDuckDB } from '../lake/parquet/writer.js';
import { commitEpoch } from '../lake/state/index.js';
import { settleLocatorUpdates } from '../lake/state/locator-updates.js';
import { benchTable, type BenchTable } from './orders.js';
import { median } from './stats.js';

const sizes = (process.env.BENCH_SIZES ?? '1000000,10000000').split(',').map(Number);
const updates = Number(process.env.BENCH_UPDATES ?? 1000);
const deletes = Number(process.env.BENCH_DELETES ?? 100);
const inserts = Number(process.env.BENCH_INSERTS ?? 1000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const TRANSACTIONS = 100;
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const count = (n: number): string => n.toLocaleString('en-US');

async function timedEpoch(table: BenchTable): Promise<number> {
  const batch = table.nextBatch();
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const result = await commitEpoch(table.ctx, batch, table.codec);
  // The epoch returns before its locator update is done; what an epoch costs includes it.
  await settleLocatorUpdates();
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  say(
    `  ${count(table.rows).padStart(12)} rows, epoch ${batch.epoch}: ${seconds(ms)} (CPU ${seconds((cpu.user + cpu.system) / 1000)})  ` +
      `+${result.rowsInserted} -${result.rowsDeleted}  [${table.breakdown()}]`,
  );
  return ms;
}

const work = join(tmpdir(), `pg-cdc-bench-epoch-${process.pid}`);
const duck = await openDuckDB();
try {
  say(
    `bench:epoch — epochs of ${updates} updates + ${deletes} deletes + ${inserts} inserts in ${TRANSACTIONS} transactions`,
  );
  const tables: BenchTable[] = [];
  for (const rows of sizes) tables.push(await benchTable(duck, work, rows, { updates, deletes, inserts }));
  say('\nfirst epoch of each table (builds its locator from the lake):');
  for (const table of tables) table.coldMs = await timedEpoch(table);
  say(`\nsteady state, ${rounds} rounds alternating between the tables (phases in ms):`);
  for (let round = 0; round < rounds; round++) {
    for (const table of tables) table.steadyMs.push(await timedEpoch(table));
  }

  say('\nsummary:');
  for (const table of tables) {
    const locators = join(table.dir, 'locators');
    const locatorBytes = readdirSync(locators).reduce((n, f) => n + statSync(join(locators, f)).size, 0);
    say(
      `  ${count(table.rows).padStart(12)} rows: steady epoch median ${seconds(median(table.steadyMs))}, ` +
        `min ${seconds(Math.min(...table.steadyMs))}; first epoch ${seconds(table.coldMs)}; ` +
        `locator ${(locatorBytes / 1024 / 1024).toFixed(1)} MiB`,
    );
  }
  const [small, large] = [tables[0]!, tables.at(-1)!];
  if (small !== large) {
    say(
      `  ratio ${count(large.rows)} / ${count(small.rows)} rows (table ${(large.rows / small.rows).toFixed(0)}x larger): ` +
        `median ${(median(large.steadyMs) / median(small.steadyMs)).toFixed(2)}, ` +
        `min ${(Math.min(...large.steadyMs) / Math.min(...small.steadyMs)).toFixed(2)}`,
    );
  }
} finally {
  duck.close();
  rmSync(work, { recursive: true, force: true });
}
