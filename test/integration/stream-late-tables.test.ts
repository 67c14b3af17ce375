/**
 * Tables that join or leave while `pg-cdc start` streams: a table created in a captured schema is added to the
 * publication, copied under a snapshot of its own while writes go on, and streamed on top of it, with no row lost
 * or repeated (keyed and keyless); a TRUNCATE empties it in the lake; a dropped table is marked dropped and stays
 * readable as of its last epoch.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { runCli } from '../support/cli.js';
import { mainCaughtUp } from '../support/main.js';
import { pythonOrSkip, scanWithDuckDbIceberg, scanWithPyIceberg } from '../support/readers.js';
import { freshDatabase } from '../support/stack.js';
import {
  eventually,
  lakeAt,
  lakeMetadataPath,
  lakeRows,
  startStream,
  streamConfig,
  type RunningStream,
} from '../support/stream.js';

type Db = Awaited<ReturnType<typeof freshDatabase>>;

const { python, skip: noPython } = pythonOrSkip();

/** `id:note` per row, sorted: what both sides are compared by. */
const rowsKey = (rows: readonly { id: unknown; note: unknown }[]): string[] =>
  rows.map((r) => `${String(r.id)}:${typeof r.note === 'string' ? r.note : ''}`).sort();

async function ordersMatch(db: Db, lake: string): Promise<true | string> {
  const source = rowsKey(await db.sql<{ id: string; note: string }>('SELECT id::text AS id, note FROM late_orders'));
  const got = rowsKey((await lakeRows(lake, 'public.late_orders', 'd.id, d.note')) as { id: unknown; note: unknown }[]);
  if (JSON.stringify(source) === JSON.stringify(got)) return true;
  return `late_orders: source ${source.length} rows, lake ${got.length}; first differences ${JSON.stringify(
    source.filter((r) => !got.includes(r)).slice(0, 5),
  )} / ${JSON.stringify(got.filter((r) => !source.includes(r)).slice(0, 5))}`;
}

async function eventsMatch(db: Db, lake: string): Promise<true | string> {
  const source = (await db.sql<{ kind: string }>('SELECT kind FROM late_events')).map((r) => r.kind).sort();
  const got = (await lakeRows(lake, 'public.late_events', 'd.kind')).map((r) => String(r.kind)).sort();
  if (JSON.stringify(source) === JSON.stringify(got)) return true;
  return `late_events: source ${source.length} rows, lake ${got.length}`;
}

/**
 * Writes to the new tables until stopped, one short transaction at a time: inserts, updates of earlier rows and
 * deletes, so that some land before the table's snapshot, some during its copy and some after.
 */
function startWriter(db: Db): { stop: () => Promise<number> } {
  let running = true;
  let n = 0;
  const done = (async () => {
    const client = new pg.Client({ connectionString: db.url() });
    await client.connect();
    try {
      while (running) {
        n += 1;
        await client.query('BEGIN');
        await client.query('INSERT INTO late_orders VALUES ($1, $2)', [10_000 + n, `w${n}`]);
        await client.query(`UPDATE late_orders SET note = note || '+' WHERE id = $1`, [1 + (n % 500)]);
        if (n % 7 === 0) await client.query('DELETE FROM late_orders WHERE id = $1', [10_000 + n - 3]);
        await client.query('INSERT INTO late_events VALUES ($1)', [`w${n}`]);
        if (n % 5 === 0) {
          await client.query(`DELETE FROM late_events WHERE ctid = (SELECT ctid FROM late_events LIMIT 1)`);
        }
        await client.query('COMMIT');
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
    } finally {
      await client.end();
    }
    return n;
  })();
  return {
    stop: async () => {
      running = false;
      return done;
    },
  };
}

describe('tables that join or leave while streaming', () => {
  let db: Db;
  let config: ReturnType<typeof streamConfig>;
  let stream: RunningStream | undefined;
  let first: RunningStream | undefined;
  const cli = (...args: string[]) => runCli(['--config', config.path, ...args]);

  before(async () => {
    db = await freshDatabase('late');
    await db.sql(`
      CREATE TABLE late_seed (id int PRIMARY KEY, v text);
      INSERT INTO late_seed VALUES (1, 'a');
      CREATE TABLE late_pk (a int NOT NULL, b int NOT NULL, v text, CONSTRAINT late_pk_key PRIMARY KEY (a));
      INSERT INTO late_pk SELECT g, g % 3, 'v' || g FROM generate_series(1, 20) g;
    `);
    config = streamConfig({ url: db.url(), prefix: 'late', tableCheckSec: 1 });
    const init = await cli('init');
    assert.equal(init.code, 0, init.stdout + init.stderr);
    stream = startStream(config.path);
    first = stream;
    await stream.waitForLog(/"msg":"streaming"/);
  });

  after(async () => {
    if (process.env.PGCDC_TEST_DUMP_LOGS) writeFileSync(process.env.PGCDC_TEST_DUMP_LOGS, first?.logs() ?? '');
    await stream?.stop('SIGKILL');
    await cli('teardown', '--yes');
  });

  it('snapshots a table created mid-stream on its own and streams it, with every row written before, during and after', async () => {
    // A transaction older than the tables' publication: their copy waits for it to end, and the changes streamed
    // meanwhile are held, then found in the copy's snapshot and dropped rather than applied twice.
    const older = new pg.Client({ connectionString: db.url() });
    await older.connect();
    await older.query(`BEGIN; INSERT INTO late_seed VALUES (2, 'older')`);
    await db.sql(`
      CREATE TABLE late_orders (id bigint PRIMARY KEY, note text);
      INSERT INTO late_orders SELECT g, 'n' || g FROM generate_series(1, 500) g;
      CREATE TABLE late_events (kind text);
      ALTER TABLE late_events REPLICA IDENTITY FULL;
      INSERT INTO late_events SELECT 'seed' || g FROM generate_series(1, 50) g;
    `);
    const writer = startWriter(db);
    await stream!.waitForLog(/late_orders.*a new table joins the stream/);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await older.query('COMMIT');
    await older.end();
    await stream!.waitForLog(/new table snapshotted; streaming it.*late_orders|late_orders.*new table snapshotted/);
    await stream!.waitForLog(/new table snapshotted; streaming it.*late_events|late_events.*new table snapshotted/);
    // Keep writing a while after both copies, so that changes are applied on top of the bases too.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const written = await writer.stop();
    assert.match(stream!.logs(), /late_orders.*"heldInBase":[1-9]/, 'changes read while the copy waited were held');
    assert.ok(written > 20, `the writer wrote ${written} transactions`);
    await db.sql(`INSERT INTO late_orders VALUES (99999, 'after')`);
    await eventually(() => ordersMatch(db, config.lake));
    await eventually(() => eventsMatch(db, config.lake));
    const [published] = await db.sql<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_publication_tables WHERE tablename IN ('late_orders', 'late_events')`,
    );
    assert.equal(published!.n, 2, 'both tables were added to the publication');
    const status = await cli('status', '--json');
    const tables = (JSON.parse(status.stdout) as { lake: { tables: { table: string; epoch: number }[] } }).lake.tables;
    assert.ok(
      tables.some((t) => t.table === 'public.late_orders' && t.epoch >= 1),
      status.stdout,
    );
  });

  it('PyIceberg and DuckDB read the late table as PostgreSQL has it', { skip: noPython }, async () => {
    const source = rowsKey(await db.sql<{ id: string; note: string }>('SELECT id::text AS id, note FROM late_orders'));
    await mainCaughtUp(lakeAt(config.lake), ['public.late_orders']);
    const metadata = await lakeMetadataPath(config.lake, 'public.late_orders');
    const py = scanWithPyIceberg(python!, metadata);
    assert.deepEqual(rowsKey(py.rows as { id: unknown; note: unknown }[]), source);
    const duck = scanWithDuckDbIceberg(python!, metadata);
    assert.deepEqual(rowsKey(duck.rows as { id: unknown; note: unknown }[]), source);
    assert.equal(py.summary['pgcdc.kind'], 'epoch');
  });

  it('empties the table in the lake on TRUNCATE and records it in the changelog', async () => {
    await db.sql(`TRUNCATE late_orders; INSERT INTO late_orders VALUES (1, 'after truncate')`);
    await eventually(() => ordersMatch(db, config.lake));
    await eventually(async () => {
      const ops = await lakeRows(config.lake, 'public.late_orders__changes', 'd._op');
      return ops.some((r) => r._op === 'truncate') || 'no truncate row in the changelog yet';
    });
  });

  it('marks a dropped table dropped in the manifest and keeps it readable as of its last epoch', async () => {
    await db.sql(`INSERT INTO late_events VALUES ('last')`);
    await eventually(() => eventsMatch(db, config.lake));
    const before = (await lakeRows(config.lake, 'public.late_events', 'd.kind')).length;
    await db.sql('DROP TABLE late_events');
    await eventually(async () => {
      const manifest = (await lakeAt(config.lake).manifest.read())?.value;
      return manifest?.tables['public.late_events']?.dropped_at !== undefined || 'not marked dropped yet';
    });
    assert.equal((await lakeRows(config.lake, 'public.late_events', 'd.kind')).length, before);
    const status = await cli('status');
    assert.match(status.stdout, /public\.late_events .*DROPPED at the source/);
    // The other tables go on streaming.
    await db.sql(`INSERT INTO late_orders VALUES (2, 'still streaming')`);
    await eventually(() => ordersMatch(db, config.lake));
  });

  it('follows a primary-key change and a REPLICA IDENTITY change at their place in the stream', async () => {
    const pkMatch = async (): Promise<true | string> => {
      const key = (r: Record<string, unknown>): string => `${String(r.a)}:${String(r.b)}:${String(r.v)}`;
      const source = (await db.sql('SELECT a, b, v FROM late_pk')).map(key).sort();
      const got = (await lakeRows(config.lake, 'public.late_pk', 'd.a, d.b, d.v')).map(key).sort();
      return (
        JSON.stringify(source) === JSON.stringify(got) || `late_pk: source ${source.join(' ')}; lake ${got.join(' ')}`
      );
    };
    await db.sql(`UPDATE late_pk SET v = 'before' WHERE a = 1`);
    await db.sql(`
      ALTER TABLE late_pk DROP CONSTRAINT late_pk_key, ADD CONSTRAINT late_pk_key PRIMARY KEY (a, b);
      INSERT INTO late_pk VALUES (1, 99, 'same a, other b');
      UPDATE late_pk SET v = 'by the new key' WHERE a = 1 AND b = 99;
      DELETE FROM late_pk WHERE a = 2 AND b = 2;
      UPDATE late_pk SET b = 50 WHERE a = 3;
    `);
    await eventually(pkMatch);
    await db.sql(`
      ALTER TABLE late_pk REPLICA IDENTITY FULL;
      UPDATE late_pk SET v = 'under full' WHERE a = 4;
      DELETE FROM late_pk WHERE a = 5;
    `);
    await eventually(pkMatch);
    const manifest = (await lakeAt(config.lake).manifest.read())?.value;
    assert.deepEqual(manifest?.tables['public.late_pk']?.primary_key, ['a', 'b']);
    assert.match(stream!.logs(), /late_pk.*key \(a\) → \(a, b\)/);
  });

  it('gives the state table the new key as its identifier fields', { skip: noPython }, async () => {
    await mainCaughtUp(lakeAt(config.lake), ['public.late_pk']);
    const scan = scanWithPyIceberg(python!, await lakeMetadataPath(config.lake, 'public.late_pk'));
    const ids = new Map(scan.fields.map(([id, name]) => [name, id]));
    assert.deepEqual([...scan.identifier_field_ids].sort(), [ids.get('a'), ids.get('b')].sort());
  });

  it('starts again after a stop with the late table resumed and the dropped one left alone', async () => {
    assert.equal(await stream!.stop('SIGTERM'), 0);
    await db.sql(`INSERT INTO late_orders VALUES (3, 'while stopped')`);
    stream = startStream(config.path);
    await stream.waitForLog(/"msg":"streaming"/);
    await db.sql(`INSERT INTO late_orders VALUES (4, 'after restart')`);
    await eventually(() => ordersMatch(db, config.lake));
    assert.doesNotMatch(stream.logs(), /new table joins the stream/);
  });

  it('reconcile applies a column and key change made while start was down, and start goes on from it', async () => {
    assert.equal(await stream!.stop('SIGTERM'), 0);
    stream = undefined;
    await db.sql(`
      ALTER TABLE late_orders ADD COLUMN region text DEFAULT 'eu';
      ALTER TABLE late_pk RENAME COLUMN v TO label;
    `);
    const plan = await cli('reconcile', '--dry-run');
    assert.equal(plan.code, 1, plan.stdout + plan.stderr);
    assert.match(plan.stdout, /public\.late_orders: would apply\n {2}add region/);
    assert.match(plan.stdout, /public\.late_pk: would apply\n {2}rename v → label/);
    const applied = await cli('reconcile');
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    const again = await cli('reconcile', '--dry-run', '--table', 'public.late_orders');
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /public\.late_orders: up to date/);
    stream = startStream(config.path);
    await stream.waitForLog(/"msg":"streaming"/);
    await db.sql(`INSERT INTO late_orders VALUES (5, 'after reconcile', 'us')`);
    // The rows already in the lake got the default PostgreSQL reports for them ('eu'), the new one its own.
    await eventually(async () => {
      const key = (r: Record<string, unknown>): string => `${String(r.id)}:${String(r.region)}`;
      const source = (await db.sql('SELECT id, region FROM late_orders')).map(key).sort();
      const got = (await lakeRows(config.lake, 'public.late_orders', 'd.id, d.region')).map(key).sort();
      return JSON.stringify(source) === JSON.stringify(got) || `late_orders: ${got.length} vs ${source.length} rows`;
    });
  });
});
