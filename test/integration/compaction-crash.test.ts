/**
 * A compaction whose worker is SIGKILLed in the middle of its rewrite, then of its commit in the table actor: the
 * workflow waits out the heartbeat, the step is retried (by the stream's worker, or by the next `pg-cdc compact`,
 * which joins the workflow), and the lake ends equal to PostgreSQL in every reader. A dead rewrite's files are never
 * referenced, so no reader sees them and the orphan sweep removes them; a retried commit finds its own snapshot.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { workflowIds } from '../../core/temporal/index.js';
import { SUMMARY_KEY } from '../../lake/contract/index.js';
import { removeOrphanFiles } from '../../lake/iceberg/orphans.js';
import { loadTableMetadata } from '../../lake/iceberg/table.js';
import { PG_CDC_BIN, runCli } from '../support/cli.js';
import { mainCaughtUp } from '../support/main.js';
import { pythonOrSkip, scanWithDuckDbIceberg, scanWithPyIceberg } from '../support/readers.js';
import { freshDatabase, sharedTemporal } from '../support/stack.js';
import {
  eventually,
  lakeAt,
  lakeMetadataPath,
  lakeRows,
  startStream,
  streamConfig,
  type RunningStream,
} from '../support/stream.js';
import type { CompactionReport } from '../../workflows/compaction-messages.js';

type Db = Awaited<ReturnType<typeof freshDatabase>>;
const { python } = pythonOrSkip();
const TABLE = 'public.crash_ledger';

async function sourceRows(db: Db): Promise<string[]> {
  const rows = await db.sql<{ r: string }>(`SELECT id::text || '=' || note AS r FROM crash_ledger`);
  return rows.map((row) => row.r).sort();
}

async function lakeMatches(db: Db, lake: string): Promise<true | string> {
  const want = await sourceRows(db);
  const got = (await lakeRows(lake, TABLE, `d.id::VARCHAR || '=' || d.note AS r`)).map((row) => String(row.r)).sort();
  return JSON.stringify(want) === JSON.stringify(got) ? true : `lake has ${got.length} rows, PostgreSQL ${want.length}`;
}

describe('a compaction whose worker is SIGKILLed', () => {
  let db: Db;
  let config: ReturnType<typeof streamConfig>;
  let stream: RunningStream | undefined;
  let client: Client;
  const cli = (...args: string[]) => runCli(['--config', config.path, ...args]);

  before(async () => {
    db = await freshDatabase('compact_crash');
    // Large enough that the rewrite takes a while on this machine: the kill lands inside it.
    await db.sql(`
      CREATE TABLE crash_ledger (id bigint PRIMARY KEY, note text);
      INSERT INTO crash_ledger SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 600000) g;
    `);
    config = streamConfig({ url: db.url(), prefix: 'compact_crash', flushIntervalSec: 0.2 });
    const init = await cli('init');
    assert.equal(init.code, 0, init.stdout + init.stderr);
    stream = startStream(config.path);
    await stream.waitForLog(/"msg":"streaming"/);
    for (let i = 0; i < 5; i++) {
      await db.sql(`UPDATE crash_ledger SET note = 'u${i}' WHERE id % 1000 = ${i}`);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await eventually(() => lakeMatches(db, config.lake));
    const temporal = sharedTemporal();
    client = new Client({
      connection: await Connection.connect({ address: temporal.address }),
      namespace: temporal.namespace,
    });
  });

  after(async () => {
    await stream?.stop('SIGKILL');
    await client?.connection.close();
    await cli('teardown', '--yes');
  });

  /**
   * Starts `pg-cdc compact`, waits until `activity` of `workflowId` is held by a worker, and SIGKILLs that worker's
   * process: this command's own, or the stream's (then started again), whichever took the task (a worker's identity
   * is `<pid>@<host>`). Returns which one it was.
   */
  async function killDuring(workflowId: string, activity: string): Promise<'compact command' | 'stream'> {
    const compact = spawn(
      process.execPath,
      [PG_CDC_BIN, '--config', config.path, 'compact', '--table', TABLE, '--force'],
      {
        stdio: 'ignore',
      },
    );
    const exited = new Promise((resolve) => compact.once('exit', resolve));
    let killed: 'compact command' | 'stream' | undefined;
    for (const deadline = Date.now() + 90_000; killed === undefined && Date.now() < deadline;) {
      const described = await client.workflow
        .getHandle(workflowId)
        .describe()
        .catch(() => undefined);
      // State 2 is PENDING_ACTIVITY_STATE_STARTED: a worker holds the task.
      const running = (described?.raw.pendingActivities ?? []).find(
        (a) => a.activityType?.name === activity && Number(a.state) === 2,
      );
      const pid = Number(/^(\d+)@/.exec(running?.lastWorkerIdentity ?? '')?.[1]);
      if (pid === compact.pid) {
        compact.kill('SIGKILL');
        killed = 'compact command';
      } else if (pid === stream!.child.pid) {
        await stream!.stop('SIGKILL');
        killed = 'stream';
      } else {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    if (killed === undefined) compact.kill('SIGKILL');
    await exited;
    assert.ok(killed, `${activity} was never seen running`);
    if (killed === 'stream') {
      stream = startStream(config.path);
      await stream.waitForLog(/"msg":"streaming"/);
    }
    return killed;
  }

  /** The next `pg-cdc compact` joins the workflow left running and waits for its end; then every reader agrees. */
  async function nextRunCompletes(): Promise<void> {
    await db.sql(`UPDATE crash_ledger SET note = 'after the kill' WHERE id <= 20`);
    const next = await cli('compact', '--table', TABLE, '--force', '--json');
    assert.equal(next.code, 0, next.stdout + next.stderr);
    const [report] = JSON.parse(next.stdout) as CompactionReport[];
    assert.ok(
      report!.result!.commits.some((c) => c.identifier === TABLE),
      JSON.stringify(report!.result),
    );
    await eventually(() => lakeMatches(db, config.lake));
    if (python) {
      await mainCaughtUp(lakeAt(config.lake), [TABLE]);
      const metadata = await lakeMetadataPath(config.lake, TABLE);
      const want = await sourceRows(db);
      const row = (r: Record<string, unknown>): string => `${String(r.id)}=${String(r.note)}`;
      assert.deepEqual(scanWithPyIceberg(python, metadata).rows.map(row).sort(), want, 'PyIceberg');
      assert.deepEqual(scanWithDuckDbIceberg(python, metadata).rows.map(row).sort(), want, 'DuckDB iceberg_scan');
    }
  }

  it('killed in the rewrite: loses nothing, the next run completes, the dead attempt leaves no visible file', async (t) => {
    const killed = await killDuring(workflowIds.compaction(TABLE), 'rewriteForCompaction');
    t.diagnostic(`killed the ${killed}'s worker in the rewrite`);
    await nextRunCompletes();
    // What the killed attempt wrote is referenced by nothing: only compaction output, and the sweep removes it.
    const lake = lakeAt(config.lake);
    const orphans = await removeOrphanFiles(lake.store, lake.catalog, TABLE, { graceMs: 0, dryRun: true });
    for (const key of orphans.deleted) assert.match(key, /\/data\/compacted-\d+-\d+\.parquet$/, key);
    t.diagnostic(`${orphans.deleted.length} file(s) of the dead attempt, referenced by nothing`);
    await removeOrphanFiles(lake.store, lake.catalog, TABLE, { graceMs: 0 });
    await eventually(() => lakeMatches(db, config.lake));
  });

  it('killed in the commit (in the table actor): loses nothing and commits once', async (t) => {
    await db.sql(`UPDATE crash_ledger SET note = 'before the second compaction' WHERE id % 500 = 1`);
    await eventually(() => lakeMatches(db, config.lake));
    const killed = await killDuring(workflowIds.table(TABLE), 'commitMaintenance');
    t.diagnostic(`killed the ${killed}'s worker in the commit`);
    await nextRunCompletes();
    // The commit's snapshot id derives from the snapshot it rewrote: a retried commit finds it, never adds a second.
    const lake = lakeAt(config.lake);
    const { metadata } = await loadTableMetadata(lake.store, lake.catalog, TABLE);
    const compactions = metadata.snapshots.filter((s) => s.summary[SUMMARY_KEY.kind] === 'compaction');
    const bases = compactions.map((s) => s.summary[SUMMARY_KEY.compactedFrom]);
    assert.equal(new Set(bases).size, bases.length, `one compaction per base: ${bases.join(', ')}`);
  });
});
