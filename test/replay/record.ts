/**
 * Records the workflow histories that test/unit/replay.test.ts replays: a real snapshot, a table actor's first
 * streamed epochs (and, after a compaction, its `maintain` Update), the compaction, a break-glass grant
 * (extended, then revoked) and an ACL sync (the registry healed), each driven through the `pg-cdc` CLI of a
 * checkout against a PostgreSQL and a Temporal dev server started here. Re-record when a workflow changes on
 * purpose (and keep the histories of older code that running executions may still have):
 *
 *   npm run record:histories [-- --only snapshot,table-actor,compaction,breakglass,acl-sync,promotion] [--label current] [--cli <bin/pg-cdc.js>]
 *
 * `--cli` names the CLI of another checkout (an older commit, unpacked outside the repository with its own
 * node_modules), so histories of code that is gone can be recorded with the same steps. Files are written to
 * test/replay/histories/<workflow>-<label>.json; temporary paths in their payloads are replaced by a fixed one.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { createLogger } from '../../core/log/index.js';
import { workflowIds } from '../../core/temporal/index.js';
import { startPostgres } from '../../stack/postgres.js';
import { startTemporalDevServer } from '../../stack/temporal.js';
import { stateQuery as tableStateQuery } from '../../workflows/table-messages.js';
import { scrubHistoryJson, type RecordedWorkflow } from './histories.js';
import { historyToJson } from './proto-json.js';

const here = import.meta.dirname;
const { values } = parseArgs({
  options: {
    only: { type: 'string', default: 'snapshot,table-actor,compaction,breakglass,acl-sync,promotion' },
    label: { type: 'string', default: 'current' },
    cli: { type: 'string', default: join(here, '..', '..', 'bin', 'pg-cdc.js') },
    out: { type: 'string', default: join(here, 'histories') },
  },
});
const only = new Set(values.only.split(',') as RecordedWorkflow[]);
const DB = 'shop';
const SLOT = 'replay_slot';
const TABLE = 'public.orders';
const GRANT = { principal: 'support', resource: `${DB}.public.customers` };

const log = createLogger({ name: 'record-histories', level: 'warn' });
const root = mkdtempSync(join(tmpdir(), 'pg-cdc-record-'));
const say = (text: string): void => void process.stdout.write(`${text}\n`);

/** Runs the CLI under test to its end; a failure stops the recording with its output. */
async function cli(configPath: string, ...args: string[]): Promise<string> {
  const child = spawn(process.execPath, [values.cli, '--config', configPath, ...args], {
    env: { ...process.env, PGCDC_LOG_LEVEL: 'warn', USER: 'recorder' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`pg-cdc ${args.join(' ')} exited with ${code}:\n${output}`);
  return output;
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe().catch(() => undefined);
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function save(
  client: Client,
  workflow: RecordedWorkflow,
  workflowId: string,
  name = `${workflow}-${values.label}`,
): Promise<void> {
  if (!only.has(workflow)) return;
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const file = join(values.out, `${name}.json`);
  writeFileSync(file, scrubHistoryJson(historyToJson(history), root));
  say(`${workflowId}: ${history.events?.length ?? 0} events → ${file}`);
}

const cleanups: Array<() => Promise<void>> = [() => Promise.resolve(rmSync(root, { recursive: true, force: true }))];
try {
  const [postgres, temporal] = await Promise.all([
    startPostgres({ dataDir: join(root, 'postgres'), durable: false, log }),
    startTemporalDevServer({ stateDir: join(root, 'temporal'), ui: false, log }),
  ]);
  cleanups.push(
    () => postgres.stop(),
    () => temporal.stop(),
  );
  await postgres.createDatabase(DB);
  await postgres.query(
    `CREATE TABLE orders (id int PRIMARY KEY, note text);
     INSERT INTO orders SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g;
     CREATE TABLE customers (id int PRIMARY KEY, name text, email text);
     INSERT INTO customers SELECT g, 'name ' || g, g || '@example.com' FROM generate_series(1, 50) g;
     ANALYZE;`,
    [],
    DB,
  );
  const configPath = join(root, 'pg-cdc.yml');
  writeFileSync(
    configPath,
    [
      `state_dir: ${join(root, 'state')}`,
      `source: { postgres: { url: "${postgres.url(DB)}" } }`,
      `replication: { slot: ${SLOT}, publication: replay_pub }`,
      // Several chunks of the one table, two at a time: the pool, not one straight line of activities.
      'init: { parallel_workers: 2, chunk_target_bytes: 131072 }',
      'flush: { interval_sec: 0.5 }',
      'tables: { tags: { "public.orders": { domain: crm } } }',
      'governance: { roles: { support: { grant: "domain = crm" } } }',
      `temporal: { address: "${temporal.address}", namespace: ${temporal.namespace}, task_queue: replay }`,
      '',
    ].join('\n'),
  );
  const client = new Client({
    connection: await Connection.connect({ address: temporal.address }),
    namespace: temporal.namespace,
  });
  cleanups.push(() => client.connection.close());

  await cli(configPath, 'init', '--json');
  await save(client, 'snapshot', workflowIds.snapshot(SLOT));

  if (
    ['table-actor', 'compaction', 'breakglass', 'acl-sync', 'promotion'].some((name) =>
      only.has(name as RecordedWorkflow),
    )
  ) {
    const stream = spawn(process.execPath, [values.cli, '--config', configPath, 'start', '--no-metrics'], {
      env: { ...process.env, PGCDC_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const exited = new Promise((resolve) => stream.once('exit', resolve));
    cleanups.push(async () => void (stream.kill('SIGTERM'), await exited));
    const actor = client.workflow.getHandle(workflowIds.table(TABLE));
    const epochAtLeast = (epoch: number) =>
      eventually(`epoch ${epoch} of ${TABLE}`, async () => {
        const state = await actor.query(tableStateQuery);
        return state.epoch >= epoch ? state : undefined;
      });
    // Two epochs: inserts, then updates and deletes of rows the snapshot wrote.
    await postgres.query(`INSERT INTO orders SELECT g, 'new' FROM generate_series(2001, 2100) g`, [], DB);
    await epochAtLeast(1);
    await postgres.query(
      `UPDATE orders SET note = 'changed' WHERE id <= 50; DELETE FROM orders WHERE id > 2050`,
      [],
      DB,
    );
    await epochAtLeast(2);
    await save(client, 'table-actor', workflowIds.table(TABLE));

    if (only.has('compaction')) {
      // Forced: two epochs are not due by the thresholds. The actor commits it between epochs, then one more epoch.
      await cli(configPath, 'compact', '--table', TABLE, '--force', '--json');
      await save(client, 'compaction', workflowIds.compaction(TABLE));
      await postgres.query(`UPDATE orders SET note = 'after compaction' WHERE id <= 10`, [], DB);
      await epochAtLeast(3);
      await save(client, 'compaction', workflowIds.table(TABLE), `table-actor-compacted-${values.label}`);
    }

    if (only.has('promotion')) {
      // The stream started promote:<db> (auto mode); a promotion asked for through its Update joins its history.
      await cli(configPath, 'promote', '--reason', 'recording', '--json');
      await save(client, 'promotion', workflowIds.promotion(DB));
    }

    if (only.has('breakglass')) {
      const target = ['--principal', GRANT.principal, '--resource', GRANT.resource];
      await cli(configPath, 'acl', 'break-glass', 'grant', ...target, '--ttl', '1h', '--reason', 'recording');
      await cli(configPath, 'acl', 'break-glass', 'extend', ...target, '--ttl', '30m', '--reason', 'still on it');
      await cli(configPath, 'acl', 'break-glass', 'revoke', ...target, '--reason', 'done');
      const workflowId = workflowIds.breakGlass(GRANT.principal, GRANT.resource);
      await client.workflow.getHandle(workflowId).result();
      await save(client, 'breakglass', workflowId);
    }

    if (only.has('acl-sync')) {
      // As its schedule starts it, on the worker of `pg-cdc start`: nothing is registered yet, so it heals.
      const workflowId = workflowIds.aclSync(DB);
      await client.workflow.execute('aclSyncWorkflow', {
        workflowId,
        taskQueue: 'replay',
        args: [{ actor: 'recorder', reason: 'recording' }],
      });
      await save(client, 'acl-sync', workflowId);
    }
  }
} finally {
  for (const step of cleanups.reverse()) await step().catch((error: unknown) => console.error(error));
}
