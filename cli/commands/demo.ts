import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { loadConfig } from '../../core/config/index.js';
import { createLogger } from '../../core/log/index.js';
import { workflowIds } from '../../core/temporal/index.js';
import { formatPreflightReport, runPreflight } from '../../source/preflight.js';
import { startDemoSource } from '../../stack/demo-source.js';
import { stopPostgresAt } from '../../stack/postgres.js';
import { stopDevServer } from '../../stack/temporal.js';
import { withSource } from '../../source/connection.js';
import { dropPublication } from '../../source/snapshot/publication.js';
import { dropSlot } from '../../source/snapshot/slot.js';
import { connectClient, connectWorker, resolveTemporal } from '../../workers/connection.js';
import { createWorkerPair } from '../../workers/pool.js';
import type { snapshotWorkflow } from '../../workflows/snapshot.js';
import { queryLake } from './query.js';
import type { preflightWorkflow } from '../../workflows/index.js';
import type { GlobalOptions } from '../context.js';

const DEMO_CONFIG = `# Written by \`pg-cdc demo\`: the embedded default. Use it with: pg-cdc --config <this file> <command>
state_dir: .
source:
  postgres:
    embedded: true
`;

interface DemoOptions {
  readonly stateDir: string;
  readonly hold?: string;
  readonly keep?: boolean;
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** How long to keep the stack up after the demo's steps: until Ctrl-C on a terminal, not at all otherwise. */
function holdMs(hold: string | undefined): number {
  if (hold === undefined) return process.stdout.isTTY ? Number.POSITIVE_INFINITY : 0;
  if (hold === 'forever') return Number.POSITIVE_INFINITY;
  const seconds = Number(hold);
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`--hold takes seconds or "forever", not "${hold}"`);
  return seconds * 1000;
}

async function runDemo(options: DemoOptions, globals: GlobalOptions): Promise<void> {
  const stateDir = resolve(options.stateDir);
  const hold = holdMs(options.hold);
  mkdirSync(stateDir, { recursive: true });
  const configFile = join(stateDir, 'demo.yml');
  writeFileSync(configFile, DEMO_CONFIG);
  const config = await loadConfig(configFile);
  const log = createLogger({ level: (globals.logLevel ?? 'warn') as never });

  const servers: Array<() => Promise<unknown>> = [];
  const connections: Array<() => Promise<unknown>> = [];
  const interrupted = new Promise<void>((done) => {
    process.once('SIGINT', done).once('SIGTERM', done);
  });
  try {
    say(`pg-cdc demo — state in ${stateDir}`);
    const source = await startDemoSource({ stateDir, keepRunning: true, log });
    servers.push(() => stopPostgresAt(source.postgres.dataDir));
    say(
      `1. source: PostgreSQL ${source.postgres.version} at ${source.url}${source.seeded ? ' (demo data loaded)' : ''}`,
    );

    const report = await runPreflight(
      { ...config.source.postgres, url: source.url },
      config.tables,
      config.replication,
    );
    say(`2. ${formatPreflightReport(report).replace(/\n/g, '\n   ')}`);

    const temporal = await resolveTemporal(config.temporal, { stateDir, keepRunning: true, log });
    servers.push(() => stopDevServer(join(stateDir, 'temporal')));
    say(`3. Temporal dev server at ${temporal.address}; UI at ${temporal.uiUrl ?? '(disabled)'}`);

    const [client, connection] = await Promise.all([connectClient(temporal), connectWorker(temporal, log)]);
    connections.push(
      () => connection.close(),
      () => client.connection.close(),
    );
    const workers = await createWorkerPair({
      connection,
      namespace: temporal.namespace,
      taskQueue: temporal.taskQueue,
      deps: { config, sourceUrl: source.url, log },
    });
    const { slot, publication } = config.replication;
    await workers.runUntil(async () => {
      const workflowId = workflowIds.preflight(slot);
      const result = await client.workflow.execute<typeof preflightWorkflow>('preflightWorkflow', {
        workflowId,
        taskQueue: temporal.taskQueue,
      });
      say(`4. workflow ${workflowId} completed through the worker: source is ${result.ready ? 'ready' : 'NOT ready'}`);

      // The demo starts from a clean slate each time: its own slot, publication and lake only.
      await withSource({ ...config.source.postgres, url: source.url }, async (pgClient) => {
        await dropSlot(pgClient, slot);
        await dropPublication(pgClient, publication);
      });
      if (config.storage.type === 'filesystem') rmSync(config.storage.path, { recursive: true, force: true });
      const snapshotId = workflowIds.snapshot(slot);
      const snapshot = await client.workflow.execute<typeof snapshotWorkflow>('snapshotWorkflow', {
        workflowId: snapshotId,
        taskQueue: temporal.taskQueue,
        args: [{ slot, hostTaskQueue: workers.hostTaskQueue, parallelWorkers: config.init.parallel_workers }],
      });
      say(`5. workflow ${snapshotId}: snapshot at LSN ${snapshot.consistentPoint} into Iceberg v2`);
      for (const table of snapshot.tables) say(`     ${table.table}: ${table.rows} rows, snapshot ${table.snapshotId}`);

      const context = { config, log, stateDir };
      const rows = await queryLake(context, {
        table: 'public.orders',
        columns: ['id,status,amount,items,placed_at'],
        where: ['status:eq:shipped'],
        limit: '5',
        format: 'table',
      });
      say(`6. pg-cdc query -t public.orders -c id,status,amount,items,placed_at -w status:eq:shipped -n 5`);
      say(`   ${rows.trimEnd().replace(/\n/g, '\n   ')}`);

      if (temporal.uiUrl) say(`   history: ${temporal.uiUrl}/namespaces/${temporal.namespace}/workflows/${snapshotId}`);
      say(`\nTemporal UI: ${temporal.uiUrl ?? '(disabled)'}`);
      say(`Try: node bin/pg-cdc.js --config ${configFile} query -t public.customers -n 3`);
      if (hold > 0) {
        say(hold === Number.POSITIVE_INFINITY ? 'Running; Ctrl-C stops the demo.' : `Holding for ${hold / 1000} s.`);
        await Promise.race([interrupted, hold === Number.POSITIVE_INFINITY ? new Promise(() => {}) : sleep(hold)]);
      }
    });
  } finally {
    const cleanups = options.keep ? connections : [...servers, ...connections];
    for (const step of cleanups.reverse()) await step().catch((error: unknown) => log.warn({ err: error }, 'cleanup'));
    if (options.keep) say('Left the embedded servers running (--keep); `pg-cdc embedded stop` stops them.');
  }
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run pg-cdc on the embedded default: demo PostgreSQL, Temporal dev server with UI, local lake')
    .option('--state-dir <dir>', 'where the demo keeps its servers and data', '.pg-cdc')
    .option('--hold <seconds>', 'keep running this long afterwards, or "forever" (default: until Ctrl-C on a TTY)')
    .option('--keep', 'leave the embedded servers running on exit')
    .action(async (options: DemoOptions) => runDemo(options, program.opts<GlobalOptions>()));
}
