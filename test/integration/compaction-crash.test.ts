/**
 * A compaction whose worker is SIGKILLed in the middle of its rewrite: the workflow waits out the heartbeat, the
 * rewrite is retried (by the stream's worker, or by the next `pg-cdc compact`, which joins the workflow), and the
 * lake ends equal to PostgreSQL. The dead attempt's files are never referenced: no reader sees them, and the orphan
 * sweep is what removes them.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { workflowIds } from '../../core/temporal/index.js';
import { removeOrphanFiles } from '../../lake/iceberg/orphans.js';
import { PG_CDC_BIN, runCli } from '../support/cli.js';
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

describe('a compaction killed mid-rewrite', () => {
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

  it('loses nothing, the next run completes, and the dead attempt leaves no visible file', async (t) => {
    const workflowId = workflowIds.compaction(TABLE);
    const compact = spawn(
      process.execPath,
      [PG_CDC_BIN, '--config', config.path, 'compact', '--table', TABLE, '--force'],
      {
        stdio: 'ignore',
      },
    );
    const exited = new Promise((resolve) => compact.once('exit', resolve));
    // Kill the process whose worker runs the rewrite, while it runs: this command's own worker, or the stream's,
    // whichever took the task (a worker's identity is `<pid>@<host>`).
    let killedPid: number | undefined;
    for (const deadline = Date.now() + 60_000; killedPid === undefined && Date.now() < deadline;) {
      const described = await client.workflow
        .getHandle(workflowId)
        .describe()
        .catch(() => undefined);
      // State 2 is PENDING_ACTIVITY_STATE_STARTED: a worker holds the rewrite.
      const running = (described?.raw.pendingActivities ?? []).find(
        (a) => a.activityType?.name === 'rewriteForCompaction' && Number(a.state) === 2,
      );
      const pid = Number(/^(\d+)@/.exec(running?.lastWorkerIdentity ?? '')?.[1]);
      if (pid === compact.pid || pid === stream!.child.pid) {
        process.kill(pid, 'SIGKILL');
        killedPid = pid;
      } else {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    assert.ok(killedPid !== undefined, 'the rewrite was never seen running');
    t.diagnostic(`killed the ${killedPid === compact.pid ? 'compact command' : 'stream'}'s worker in the rewrite`);
    if (killedPid === stream!.child.pid) {
      await stream!.stop('SIGKILL');
      stream = startStream(config.path);
      await stream.waitForLog(/"msg":"streaming"/);
    } else {
      compact.kill('SIGKILL');
    }
    await exited;

    // The stream goes on meanwhile; then the next `compact` joins the workflow and waits for its end.
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
      const metadata = await lakeMetadataPath(config.lake, TABLE);
      const want = await sourceRows(db);
      const row = (r: Record<string, unknown>): string => `${String(r.id)}=${String(r.note)}`;
      assert.deepEqual(scanWithPyIceberg(python, metadata).rows.map(row).sort(), want, 'PyIceberg');
      assert.deepEqual(scanWithDuckDbIceberg(python, metadata).rows.map(row).sort(), want, 'DuckDB iceberg_scan');
    }

    // What the killed attempt wrote is referenced by nothing: only compaction output, and the sweep removes it.
    const lake = lakeAt(config.lake);
    const orphans = await removeOrphanFiles(lake.store, lake.catalog, TABLE, { graceMs: 0, dryRun: true });
    for (const key of orphans.deleted) assert.match(key, /\/data\/compacted-\d+-\d+\.parquet$/, key);
    t.diagnostic(`${orphans.deleted.length} file(s) of the dead attempt, referenced by nothing`);
    await removeOrphanFiles(lake.store, lake.catalog, TABLE, { graceMs: 0 });
    await eventually(() => lakeMatches(db, config.lake));
  });
});
