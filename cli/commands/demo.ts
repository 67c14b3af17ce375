import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { Command } from 'commander';
import { loadConfig, type PgCdcConfig } from '../../core/config/index.js';
import { createLogger, type Logger } from '../../core/log/index.js';
import { changelogIdentifier } from '../../lake/contract/index.js';
import { openLake } from '../../lake/open.js';
import { locatorRoot } from '../../lake/state/index.js';
import { openDuckDB } from '../../lake/parquet/writer.js';
import { currentDataFiles } from '../../lake/reader.js';
import { liveRowsSql } from '../../lake/scan.js';
import { searchAttributesOf, workflowIds } from '../../core/temporal/index.js';
import { formatPreflightReport, runPreflight } from '../../source/preflight.js';
import { startDemoSource } from '../../stack/demo-source.js';
import { startMoto } from '../../stack/moto.js';
import { projectRoot } from '../../stack/paths.js';
import { stopPostgresAt } from '../../stack/postgres.js';
import { stopDevServer } from '../../stack/temporal.js';
import { withSource } from '../../source/connection.js';
import { dropPublication } from '../../source/snapshot/publication.js';
import { dropSlot } from '../../source/snapshot/slot.js';
import { clientOver, connectWorker, resolveTemporal } from '../../workers/connection.js';
import { createWorkerPair } from '../../workers/pool.js';
import type { snapshotWorkflow } from '../../workflows/snapshot.js';
import { queryLake } from './query.js';
import type { preflightWorkflow } from '../../workflows/index.js';
import type { GlobalOptions } from '../context.js';
import { openStreamProcess } from '../stream-process.js';

const DEMO_CONFIG = `# Written by \`pg-cdc demo\`: the embedded default. Use it with: pg-cdc --config <this file> <command>
state_dir: .
source:
  postgres:
    embedded: true
flush:
  interval_sec: 1
tables:
  tags:
    "public.*": { sensitivity: internal }
    "public.customers": { sensitivity: pii }
governance:
  roles:
    analyst:
      grant: "sensitivity in [public, internal]"
      description: reads operational tables, never personal data
`;

/** One round of the demo's live workload: new orders, status changes, a cancelled order removed. */
const LIVE_WORKLOAD = `
WITH placed AS (
  INSERT INTO orders (customer_id, status, amount, items, tags)
  SELECT 1 + (random() * 199)::int, 'pending', round((5 + random() * 500)::numeric, 2),
         jsonb_build_object('sku', 'SKU-' || (random() * 40)::int, 'qty', 1), '{live}'
  FROM generate_series(1, 3) RETURNING 1)
UPDATE orders SET status = 'paid'
 WHERE id IN (SELECT id FROM orders WHERE status = 'pending' ORDER BY id LIMIT 2);
DELETE FROM orders WHERE id = (SELECT min(id) FROM orders WHERE status = 'cancelled');
`;

interface DemoOptions {
  readonly stateDir: string;
  readonly hold?: string;
  readonly keep?: boolean;
  readonly s3?: boolean;
}

/** The lake in a bucket of a moto server the demo starts (in memory: it goes when the demo ends). */
const S3_LAKE_BUCKET = 'pg-cdc-demo';
const s3Storage = (endpoint: string): string => `storage:
  type: s3
  bucket: ${S3_LAKE_BUCKET}
  prefix: lake
  endpoint: ${endpoint}
  region: us-east-1
`;

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const PG_CDC_BIN = join(projectRoot(), 'bin', 'pg-cdc.js');

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
  const log = createLogger({ level: (globals.logLevel ?? 'warn') as never });
  const servers: Array<() => Promise<unknown>> = [];
  const connections: Array<() => Promise<unknown>> = [];
  let lakeLine = 'the lake on the local disk';
  if (options.s3) {
    const moto = await startMoto({ log });
    // Stopped even with --keep: the lake it holds lives in its memory, and nothing finds it again.
    connections.push(() => moto.stop());
    // This process and the commands it runs reach moto with its credentials, through the default provider chain.
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey,
      AWS_REGION: moto.region,
    });
    const s3 = new S3Client({ endpoint: moto.endpoint, region: moto.region, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: S3_LAKE_BUCKET }));
    s3.destroy();
    writeFileSync(configFile, DEMO_CONFIG + s3Storage(moto.endpoint));
    lakeLine = `the lake in s3://${S3_LAKE_BUCKET}/lake on moto at ${moto.endpoint}`;
  } else {
    writeFileSync(configFile, DEMO_CONFIG);
  }
  const config = await loadConfig(configFile);

  const interrupted = new Promise<void>((done) => {
    process.once('SIGINT', done).once('SIGTERM', done);
  });
  try {
    say(`pg-cdc demo — state in ${stateDir}, ${lakeLine}`);
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

    const connection = await connectWorker(temporal, log);
    connections.push(() => connection.close());
    const client = clientOver(connection, temporal);
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
        typedSearchAttributes: searchAttributesOf({ kind: 'preflight', slot }),
      });
      say(`4. workflow ${workflowId} completed through the worker: source is ${result.ready ? 'ready' : 'NOT ready'}`);

      // The demo starts from a clean slate each time: its own slot, publication and lake only.
      await withSource({ ...config.source.postgres, url: source.url }, async (pgClient) => {
        await dropSlot(pgClient, slot);
        await dropPublication(pgClient, publication);
      });
      const lakeRoot = openLake(config).root;
      if (lakeRoot) rmSync(lakeRoot, { recursive: true, force: true });
      rmSync(config.spool.dir, { recursive: true, force: true });
      rmSync(locatorRoot(stateDir), { recursive: true, force: true });
      const snapshotId = workflowIds.snapshot(slot);
      const snapshot = await client.workflow.execute<typeof snapshotWorkflow>('snapshotWorkflow', {
        workflowId: snapshotId,
        taskQueue: temporal.taskQueue,
        args: [{ slot, hostTaskQueue: workers.hostTaskQueue, parallelWorkers: config.init.parallel_workers }],
        typedSearchAttributes: searchAttributesOf({ kind: 'snapshot', slot }),
      });
      say(`5. workflow ${snapshotId}: snapshot at LSN ${snapshot.consistentPoint} into Iceberg v2`);
      for (const table of snapshot.tables) say(`     ${table.table}: ${table.rows} rows, snapshot ${table.snapshotId}`);

      // Governance: register the lake's tables with the tags of demo.yml, then read as the role `analyst`.
      const registered = spawnSync(process.execPath, [PG_CDC_BIN, '--config', configFile, 'acl', 'register'], {
        encoding: 'utf8',
      });
      if (registered.status !== 0) throw new Error(`pg-cdc acl register failed: ${registered.stderr}`);
      say(
        `6. pg-cdc acl register: tables tagged from demo.yml (orders: sensitivity=internal, customers: sensitivity=pii)`,
      );
      const context = { config, log, stateDir };
      const rows = await queryLake(context, {
        table: 'public.orders',
        columns: ['id,status,amount,items,placed_at'],
        where: ['status:eq:shipped'],
        limit: '5',
        format: 'table',
        role: 'analyst',
      });
      say(
        `   pg-cdc query --role analyst -t public.orders -c id,status,amount,items,placed_at -w status:eq:shipped -n 5`,
      );
      say(`   ${rows.trimEnd().replace(/\n/g, '\n   ')}`);
      const refused = await queryLake(context, {
        table: 'public.customers',
        limit: '1',
        format: 'table',
        role: 'analyst',
      }).then(
        () => 'returned rows (unexpected)',
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      );
      say(`   pg-cdc query --role analyst -t public.customers → ${refused}`);

      if (temporal.uiUrl) say(`   history: ${temporal.uiUrl}/namespaces/${temporal.namespace}/workflows/${snapshotId}`);
    });

    await streamLive({ config, stateDir, sourceUrl: source.url, log, temporal });
    say(`\nTemporal UI: ${temporal.uiUrl ?? '(disabled)'}`);
    say(`Try: node bin/pg-cdc.js --config ${configFile} query --role analyst -t public.orders__changes -n 5`);
    if (options.s3) say('   (while the demo runs: the S3 lake is in moto, which stops with it)');
    if (hold > 0) {
      say(hold === Number.POSITIVE_INFINITY ? 'Running; Ctrl-C stops the demo.' : `Holding for ${hold / 1000} s.`);
      // The workers have stopped by now, and an idle Temporal connection does not keep Node's event loop alive.
      const keepAlive = setInterval(() => undefined, 2 ** 30);
      try {
        await Promise.race([interrupted, hold === Number.POSITIVE_INFINITY ? new Promise(() => {}) : sleep(hold)]);
      } finally {
        clearInterval(keepAlive);
      }
    }
  } finally {
    const cleanups = options.keep ? connections : [...servers, ...connections];
    for (const step of cleanups.reverse()) await step().catch((error: unknown) => log.warn({ err: error }, 'cleanup'));
    if (options.keep) say('Left the embedded servers running (--keep); `pg-cdc embedded stop` stops them.');
  }
}

/** Steps 7 and 8: `pg-cdc start`'s stream worker, in this process, while a small workload writes to the source. */
async function streamLive(options: {
  config: PgCdcConfig;
  stateDir: string;
  sourceUrl: string;
  log: Logger;
  temporal: { namespace: string; uiUrl?: string | undefined };
}): Promise<void> {
  const { config, stateDir, sourceUrl, log, temporal } = options;
  const stream = await openStreamProcess({ config, stateDir, sourceUrl, log });
  say(
    '7. pg-cdc start: streaming the WAL while a live workload writes (3 new orders, 2 paid, 1 cancelled order deleted per second)',
  );
  const { manifest } = openLake(config);
  try {
    let previous = (await manifest.read())?.value.tables['public.orders']?.row_count ?? 0;
    for (let second = 1; second <= 6; second++) {
      await withSource({ ...config.source.postgres, url: sourceUrl }, (pg) => pg.query(LIVE_WORKLOAD), { log });
      await sleep(1000);
      const orders = (await manifest.read())?.value.tables['public.orders'];
      if (!orders) continue;
      const delta = orders.row_count - previous;
      previous = orders.row_count;
      say(
        `   t+${second}s  public.orders  epoch ${orders.epoch}  ${orders.row_count} rows (${delta >= 0 ? '+' : ''}${delta})  committed LSN ${orders.committed_lsn}`,
      );
    }
  } finally {
    stream.stop();
    try {
      await stream.streaming;
    } finally {
      await stream.close();
    }
  }
  const changelog = changelogIdentifier('public.orders');
  const changes = await changelogSummary(config, changelog);
  say(`8. changelog ${changelog}: ${changes}`);
  if (temporal.uiUrl) {
    say(`   actor: ${temporal.uiUrl}/namespaces/${temporal.namespace}/workflows/${workflowIds.table('public.orders')}`);
  }
}

async function changelogSummary(config: PgCdcConfig, table: string): Promise<string> {
  const { store, catalog } = openLake(config);
  const files = await currentDataFiles(store, catalog, table);
  const sql = liveRowsSql(files, { select: 'd._op AS op, count(*) AS n' });
  if (!sql) return 'no changes yet';
  const duck = await openDuckDB({ threads: 1, store });
  try {
    const rows = (await duck.connection.runAndReadAll(`${sql} GROUP BY ALL ORDER BY op`)).getRowObjectsJson();
    return rows.map((r) => `${JSON.stringify(r.n)} ${JSON.stringify(r.op)}`.replace(/"/g, '')).join(', ');
  } finally {
    duck.close();
  }
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run pg-cdc on the embedded default: demo PostgreSQL, Temporal dev server with UI, local lake')
    .option('--state-dir <dir>', 'where the demo keeps its servers and data', '.pg-cdc')
    .option('--hold <seconds>', 'keep running this long afterwards, or "forever" (default: until Ctrl-C on a TTY)')
    .option('--keep', 'leave the embedded servers running on exit')
    .option('--s3', 'keep the lake in a bucket of a moto server (S3 in memory) instead of on the local disk')
    .action(async (options: DemoOptions) => runDemo(options, program.opts<GlobalOptions>()));
}
