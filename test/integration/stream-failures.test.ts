/**
 * A permanent epoch failure stops its table, not the stream: one table's lake metadata is corrupted on disk, so its
 * next epoch fails with LAKE_CORRUPT. The failure is not retried, shows in the actor's `state` query and in
 * `pg-cdc status` (which exits 1), the other table keeps streaming, and the slot is not acknowledged past the
 * failed epoch.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { workflowIds } from '../../core/temporal/index.js';
import { stateQuery, type TableActorState } from '../../workflows/table-messages.js';
import { runCli } from '../support/cli.js';
import { freshDatabase, sharedTemporal } from '../support/stack.js';
import {
  eventually,
  lakeMetadataPath,
  lakeRows,
  startStream,
  streamConfig,
  type RunningStream,
} from '../support/stream.js';

type Db = Awaited<ReturnType<typeof freshDatabase>>;

describe('a table whose epoch fails for good', () => {
  let db: Db;
  let config: ReturnType<typeof streamConfig>;
  let stream: RunningStream | undefined;
  let connection: Connection;
  let client: Client;
  const cli = (...args: string[]) => runCli(['--config', config.path, ...args]);
  const actorState = (table: string): Promise<TableActorState> =>
    client.workflow.getHandle(workflowIds.table(table)).query(stateQuery);

  before(async () => {
    db = await freshDatabase('fails');
    await db.sql(`CREATE TABLE good (id int PRIMARY KEY, v text)`);
    await db.sql(`CREATE TABLE bad (id int PRIMARY KEY, v text)`);
    await db.sql(`INSERT INTO good VALUES (1, 'a'); INSERT INTO bad VALUES (1, 'a')`);
    config = streamConfig({ url: db.url(), prefix: 'fails', heartbeatSec: 1 });
    const init = await cli('init');
    assert.equal(init.code, 0, init.stdout + init.stderr);
    const temporal = sharedTemporal();
    connection = await Connection.connect({ address: temporal.address });
    client = new Client({ connection, namespace: temporal.namespace });
    stream = startStream(config.path);
    await stream.waitForLog(/"msg":"streaming"/);
  });

  after(async () => {
    await stream?.stop('SIGKILL');
    await cli('teardown', '--yes');
    await connection?.close();
  });

  it('stops that table only, shows it, and holds the slot before its epoch', async () => {
    // Both actors commit an epoch first: the stream is healthy before the damage.
    await db.sql(`INSERT INTO good VALUES (2, 'b'); INSERT INTO bad VALUES (2, 'b')`);
    await eventually(async () => {
      const [good] = await lakeRows(config.lake, 'public.good', 'count(*) AS n');
      const [bad] = await lakeRows(config.lake, 'public.bad', 'count(*) AS n');
      return (Number(good?.n) === 2 && Number(bad?.n) === 2) || `good ${String(good?.n)}, bad ${String(bad?.n)}`;
    });

    writeFileSync(await lakeMetadataPath(config.lake, 'public.bad'), '{ not json');
    await db.sql(`INSERT INTO bad VALUES (3, 'c')`);

    let failed: TableActorState | undefined;
    await eventually(async () => {
      failed = await actorState('public.bad');
      return failed.failure !== undefined || `actor at epoch ${failed.epoch}, no failure yet`;
    });
    const failure = failed!.failure!;
    assert.equal(failure.code, 'LAKE_CORRUPT');
    assert.equal(failure.retryable, false);
    assert.equal(failure.epoch, failed!.epoch + 1);
    assert.ok(failure.firstLsn, 'the failure names the epoch’s LSN');

    // No endless retry: one attempt, nothing pending in the actor, the stream did not resend it.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const description = await client.workflow.getHandle(workflowIds.table('public.bad')).describe();
    assert.equal(description.raw.pendingActivities?.length ?? 0, 0, 'no commit of the failed epoch is pending');
    const attempts = stream!.logs().match(/epoch commit failed; not retried/g) ?? [];
    assert.equal(attempts.length, 1, stream!.logs().slice(-4000));
    assert.match(stream!.logs(), /"code":"LAKE_CORRUPT"/);
    assert.equal(stream!.child.exitCode, null, 'the stream keeps running');

    // The other table keeps streaming.
    await db.sql(`INSERT INTO good VALUES (3, 'c'), (4, 'd')`);
    await eventually(async () => {
      const [good] = await lakeRows(config.lake, 'public.good', 'count(*) AS n');
      return Number(good?.n) === 4 || `good has ${String(good?.n)} rows`;
    });

    // Heartbeats and the good table's commits move the stream on; the slot stays at or before the failed epoch.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const [slot] = await db.sql<{ held: boolean; confirmed: string }>(
      `SELECT confirmed_flush_lsn <= $2::pg_lsn AS held, confirmed_flush_lsn::text AS confirmed
         FROM pg_replication_slots WHERE slot_name = $1`,
      [config.slot, failure.firstLsn],
    );
    assert.equal(slot?.held, true, `confirmed ${slot?.confirmed} passed the failed epoch at ${failure.firstLsn}`);

    const status = await cli('status');
    assert.equal(status.code, 1, status.stdout + status.stderr);
    assert.match(status.stdout, /FAILED public\.bad at epoch \d+ .*LAKE_CORRUPT/);
    const json = JSON.parse((await cli('status', '--json')).stdout) as {
      stream: { failed_tables: { table: string; code: string; epoch: number }[] };
    };
    assert.deepEqual(
      json.stream.failed_tables.map((f) => [f.table, f.code, f.epoch]),
      [['public.bad', 'LAKE_CORRUPT', failure.epoch]],
    );
  });
});
