/**
 * A column change the stream cannot follow stops only the table it affects (docs/schema-evolution.md): every
 * column of one table dropped (an Iceberg table needs one) fails that table with TYPE_MAPPING, naming the table and
 * the fix, while the other table keeps streaming; `pg-cdc status` shows it failed and the slot is held at the
 * change, so a start after the fix reads it again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../support/cli.js';
import { freshDatabase } from '../support/stack.js';
import { eventually, lakeRows, startStream, streamConfig, type RunningStream } from '../support/stream.js';

type Db = Awaited<ReturnType<typeof freshDatabase>>;

describe('an unsupported column change', () => {
  let db: Db;
  let config: ReturnType<typeof streamConfig>;
  let stream: RunningStream | undefined;
  const cli = (...args: string[]) => runCli(['--config', config.path, ...args]);
  const count = async (table: string): Promise<number> =>
    Number((await lakeRows(config.lake, table, 'count(*) AS n'))[0]?.n ?? 0);

  before(async () => {
    db = await freshDatabase('unsupported');
    await db.sql(`
      CREATE TABLE steady_items (id int PRIMARY KEY, v text);
      CREATE TABLE emptied_items (id int PRIMARY KEY, v text);
      INSERT INTO steady_items VALUES (1, 'a');
      INSERT INTO emptied_items VALUES (1, 'a');
    `);
    config = streamConfig({ url: db.url(), prefix: 'unsupported', flushIntervalSec: 0.3, heartbeatSec: 1 });
    const init = await cli('init');
    assert.equal(init.code, 0, init.stdout + init.stderr);
    stream = startStream(config.path);
    await stream.waitForLog(/"msg":"streaming"/);
  });

  after(async () => {
    await stream?.stop('SIGKILL');
    await cli('teardown', '--yes');
  });

  it('stops that table only, names it and the fix, and holds the slot at the change', async () => {
    await db.sql(`INSERT INTO steady_items VALUES (2, 'b'); INSERT INTO emptied_items VALUES (2, 'b')`);
    await eventually(async () => {
      const [steady, emptied] = [await count('public.steady_items'), await count('public.emptied_items')];
      return (steady === 2 && emptied === 2) || `steady ${steady}, emptied ${emptied}`;
    });

    await db.sql(`ALTER TABLE emptied_items DROP COLUMN v, DROP COLUMN id`);
    await db.sql(`INSERT INTO emptied_items DEFAULT VALUES`);
    await stream!.waitForLog(/public\.emptied_items stops at a change it cannot follow \(TYPE_MAPPING/);
    assert.match(stream!.logs(), /table public\.emptied_items has no columns/);

    await db.sql(`INSERT INTO steady_items VALUES (3, 'c'), (4, 'd')`);
    await eventually(async () => (await count('public.steady_items')) === 4 || 'steady_items not streamed on');
    assert.equal(stream!.child.exitCode, null, 'the stream keeps running');
    assert.equal(await count('public.emptied_items'), 2, 'the stopped table keeps what it had');

    const status = await cli('status', '--json');
    const failed = (
      JSON.parse(status.stdout) as {
        stream: { failed_tables: { table: string; code: string; firstLsn: string; hint: string }[] };
      }
    ).stream.failed_tables;
    assert.deepEqual(
      failed.map((f) => [f.table, f.code]),
      [['public.emptied_items', 'TYPE_MAPPING']],
    );
    assert.match(failed[0]!.hint, /add a column or exclude the table/);
    // Heartbeats and the steady table's commits move the stream on; the slot stays at the change.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const [slot] = await db.sql<{ held: boolean; confirmed: string }>(
      `SELECT confirmed_flush_lsn <= $2::pg_lsn AS held, confirmed_flush_lsn::text AS confirmed
         FROM pg_replication_slots WHERE slot_name = $1`,
      [config.slot, failed[0]!.firstLsn],
    );
    assert.equal(slot?.held, true, `confirmed ${slot?.confirmed} passed the change at ${failed[0]!.firstLsn}`);
  });
});
