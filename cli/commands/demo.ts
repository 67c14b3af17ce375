import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { createActivities } from '../../activities/index.js';
import { loadConfig } from '../../core/config/index.js';
import { createLogger } from '../../core/log/index.js';
import { workflowIds } from '../../core/temporal/index.js';
import { formatPreflightReport, runPreflight } from '../../source/preflight.js';
import { startDemoSource } from '../../stack/demo-source.js';
import { stopPostgresAt } from '../../stack/postgres.js';
import { stopDevServer } from '../../stack/temporal.js';
import { connectClient, connectWorker, resolveTemporal } from '../../workers/connection.js';
import { bundleWorkflows, createWorker } from '../../workers/worker.js';
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

    const [client, connection, workflowBundle] = await Promise.all([
      connectClient(temporal),
      connectWorker(temporal, log),
      bundleWorkflows(),
    ]);
    connections.push(
      () => connection.close(),
      () => client.connection.close(),
    );
    const worker = await createWorker({
      connection,
      namespace: temporal.namespace,
      taskQueue: temporal.taskQueue,
      activities: createActivities({ config, sourceUrl: source.url, log }),
      log,
      workflowBundle,
    });
    const workflowId = workflowIds.preflight(config.replication.slot);
    await worker.runUntil(async () => {
      const result = await client.workflow.execute<typeof preflightWorkflow>('preflightWorkflow', {
        workflowId,
        taskQueue: temporal.taskQueue,
        args: [],
      });
      const verdict = result.ready ? 'ready' : 'NOT ready';
      say(`4. workflow ${workflowId} completed through the worker: source is ${verdict}`);
      if (temporal.uiUrl) say(`   history: ${temporal.uiUrl}/namespaces/${temporal.namespace}/workflows/${workflowId}`);
      say(`\nTemporal UI: ${temporal.uiUrl ?? '(disabled)'}`);
      say(`Try: node bin/pg-cdc.js --config ${configFile} discover`);
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
