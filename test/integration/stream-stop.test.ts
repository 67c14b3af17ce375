/**
 * SIGTERM while an epoch is still open: `pg-cdc start` seals it and commits it through the table actor its own
 * worker hosts, then exits. The SDK's default is to stop every worker of the process on SIGTERM; had it done so,
 * the last epoch's commit would have found no worker and the stop would have waited out its drain limit (45 s)
 * and left the epoch in the spool.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parseLsn } from '../../core/lsn/index.js';
import { streamStatusFile } from '../../stream/status-file.js';
import { runCli } from '../support/cli.js';
import { freshDatabase } from '../support/stack.js';
import { eventually, lakeRows, startStream, streamConfig, type RunningStream } from '../support/stream.js';

describe('pg-cdc start stopped with an epoch open', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let config: ReturnType<typeof streamConfig>;
  let stream: RunningStream | undefined;
  const cli = (...args: string[]) => runCli(['--config', config.path, ...args]);

  before(async () => {
    db = await freshDatabase('stop');
    // A table name no other test file streams: table actors are named by table on the shared Temporal server.
    await db.sql('CREATE TABLE stop_pending (id int PRIMARY KEY, v text)');
    // An interval no test waits out: the epoch is still open when the signal comes.
    config = streamConfig({ url: db.url(), prefix: 'stop', flushIntervalSec: 600 });
    const init = await cli('init');
    assert.equal(init.code, 0, init.stdout + init.stderr);
  });

  after(async () => {
    await stream?.stop('SIGKILL');
    await cli('teardown', '--yes');
  });

  it('commits the open epoch, acknowledges the slot past it and exits at once', async () => {
    stream = startStream(config.path);
    await stream.waitForLog(/"msg":"streaming"/);
    const [marker] = await db.sql<{ lsn: string }>(
      `INSERT INTO stop_pending SELECT g, 'row ' || g FROM generate_series(1, 100) g
       RETURNING pg_current_wal_insert_lsn()::text AS lsn`,
    );
    // Read by the stream (so the stop must commit it), not yet in the lake.
    await eventually(() => {
      const status = JSON.parse(readFileSync(streamStatusFile(config.stateDir), 'utf8')) as { read_lsn: string };
      return Promise.resolve(parseLsn(status.read_lsn) >= parseLsn(marker!.lsn) || `read up to ${status.read_lsn}`);
    });
    assert.deepEqual(await lakeRows(config.lake, 'public.stop_pending', 'count(*)::INT AS n'), [{ n: 0 }]);

    const started = Date.now();
    const code = await stream.stop('SIGTERM');
    const stopMs = Date.now() - started;
    const logs = stream.logs();
    stream = undefined;
    assert.equal(code, 0, logs.slice(-4000));
    assert.doesNotMatch(logs, /stopping before every epoch committed/);
    assert.ok(stopMs < 20_000, `the stop took ${stopMs} ms`);
    assert.deepEqual(await lakeRows(config.lake, 'public.stop_pending', 'count(*)::INT AS n'), [{ n: 100 }]);
    const [slot] = await db.sql<{ confirmed: string; past: boolean }>(
      `SELECT confirmed_flush_lsn::text AS confirmed, confirmed_flush_lsn >= $2::pg_lsn AS past
         FROM pg_replication_slots WHERE slot_name = $1`,
      [config.slot, marker!.lsn],
    );
    assert.ok(slot!.past, `slot confirmed ${slot!.confirmed}, the rows were written at ${marker!.lsn}`);
  });
});
