/**
 * An ALTER between two writes of the same table inside one transaction (docs/schema-evolution.md): pgoutput sends
 * the new Relation in the middle of the transaction, and the stream splits the transaction's rows for that table
 * into two epochs there, the rows before in the old columns and the rows after in the new ones, exactly once, also
 * across a kill right after such a transaction, while other transactions keep writing. The lake equals the source
 * through our scan, PyIceberg and DuckDB's iceberg_scan, and the changelog holds every change of each split
 * transaction once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { loadTableMetadata } from '../../lake/iceberg/table.js';
import { runCli } from '../support/cli.js';
import { forceMainCaughtUp } from '../support/main.js';
import { pythonOrSkip, scanWithDuckDbIceberg, scanWithPyIceberg } from '../support/readers.js';
import { lakeMatches, lakeTable, sourceState } from '../support/evolving-table.js';
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
const TABLE = 'txn_alter_items';

/** Runs `statements` as one transaction; returns its xid and how many rows of the table it changed. */
async function inOneTransaction(db: Db, statements: readonly string[]): Promise<{ xid: string; changes: number }> {
  const client = new pg.Client({ connectionString: db.url() });
  await client.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ xid: string }>('SELECT txid_current()::text AS xid');
    let changes = 0;
    for (const sql of statements) {
      const result = await client.query(sql);
      if (/^(INSERT|UPDATE|DELETE)/.test(result.command)) changes += result.rowCount ?? 0;
    }
    await client.query('COMMIT');
    return { xid: rows[0]!.xid, changes };
  } finally {
    await client.end();
  }
}

describe('an ALTER between two writes of one transaction', () => {
  let db: Db;
  let config: ReturnType<typeof streamConfig>;
  let stream: RunningStream | undefined;
  let writing = true;
  let writer: Promise<void> | undefined;
  const split: { xid: string; changes: number }[] = [];
  const cli = (...args: string[]) => runCli(['--config', config.path, ...args]);

  before(async () => {
    db = await freshDatabase('evolve_txn');
    await db.sql(`
      CREATE TABLE ${TABLE} (id int PRIMARY KEY, qty int NOT NULL, name text, note text);
      INSERT INTO ${TABLE} SELECT g, g, 'item ' || g, 'note ' || g FROM generate_series(1, 30) g;
    `);
    config = streamConfig({ url: db.url(), prefix: 'evolve_txn', flushIntervalSec: 0.3 });
    const init = await cli('init');
    assert.equal(init.code, 0, init.stdout + init.stderr);
  });

  after(async () => {
    writing = false;
    await writer?.catch(() => undefined);
    await stream?.stop('SIGKILL');
    await cli('teardown', '--yes');
  });

  it('splits the transaction at the ALTER: ADD with a default, DROP, int → bigint, two ALTERs in one, a kill', async () => {
    stream = startStream(config.path);
    await stream.waitForLog(/"msg":"streaming"/);
    // Writes of their own, valid in every shape, that touch no row the altering transactions touch (no deadlock).
    let next = 1000;
    writer = (async () => {
      while (writing) {
        await db.sql(`INSERT INTO ${TABLE} (id, qty) VALUES (${next}, ${next})`);
        if (next > 1000) await db.sql(`UPDATE ${TABLE} SET qty = qty + 1 WHERE id = ${next - 1}`);
        next += 1;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 400));
    await pause();
    // Rows from before the ALTER, also the ones this transaction wrote, read the default afterwards.
    split.push(
      await inOneTransaction(db, [
        `INSERT INTO ${TABLE} (id, qty, name) VALUES (100, 100, 'before add')`,
        `UPDATE ${TABLE} SET qty = -1 WHERE id = 1`,
        `ALTER TABLE ${TABLE} ADD COLUMN color text DEFAULT 'grey'`,
        `INSERT INTO ${TABLE} (id, qty, color) VALUES (101, 101, 'red')`,
        `UPDATE ${TABLE} SET color = 'blue' WHERE id IN (100, 2)`,
      ]),
    );
    await pause();
    split.push(
      await inOneTransaction(db, [
        `INSERT INTO ${TABLE} (id, qty, note) VALUES (102, 102, 'dropped soon')`,
        `ALTER TABLE ${TABLE} DROP COLUMN note`,
        `INSERT INTO ${TABLE} (id, qty) VALUES (103, 103)`,
        `DELETE FROM ${TABLE} WHERE id = 3`,
      ]),
    );
    // Killed right after a split transaction: its epochs are sealed together or not at all, and the restart
    // neither loses the part after the ALTER nor applies the part before twice.
    assert.equal(await stream.stop('SIGKILL'), 128);
    stream = startStream(config.path);
    await stream.waitForLog(/"msg":"streaming"/);
    await pause();
    split.push(
      await inOneTransaction(db, [
        `UPDATE ${TABLE} SET qty = 2000000000 WHERE id = 4`,
        `ALTER TABLE ${TABLE} ALTER COLUMN qty TYPE bigint`,
        `UPDATE ${TABLE} SET qty = 5000000000 WHERE id = 5`,
        `INSERT INTO ${TABLE} (id, qty) VALUES (104, 6000000000)`,
      ]),
    );
    await pause();
    // Two ALTERs between three writes: three parts, three epochs, one after the other.
    split.push(
      await inOneTransaction(db, [
        `INSERT INTO ${TABLE} (id, qty) VALUES (105, 105)`,
        `ALTER TABLE ${TABLE} ADD COLUMN size int`,
        `INSERT INTO ${TABLE} (id, qty, size) VALUES (106, 106, 6)`,
        `ALTER TABLE ${TABLE} RENAME COLUMN name TO label`,
        `UPDATE ${TABLE} SET label = 'renamed', size = 7 WHERE id = 105`,
      ]),
    );
    await pause();
    writing = false;
    await writer;

    await eventually(() => lakeMatches(db, config.lake, TABLE));
    assert.equal(stream.child.exitCode, null, 'the stream is still running');
    assert.doesNotMatch(stream.logs(), /SCHEMA_CHANGED/);
    assert.match(stream.logs(), /split into epochs at this point/);

    const { store, catalog } = lakeAt(config.lake);
    const state = await loadTableMetadata(store, catalog, `public.${TABLE}`);
    const current = state.metadata.schemas.find((s) => s['schema-id'] === state.metadata['current-schema-id'])!;
    assert.deepEqual(
      state.metadata.schemas.map((s) => s['schema-id']),
      [0, 1, 2, 3, 4, 5],
      'a schema per ALTER, none twice after the kill',
    );
    assert.deepEqual(
      current.fields.map((f) => [f.name, f.id, f.type]),
      [
        ['id', 1, 'int'],
        ['qty', 2, 'long'],
        ['label', 3, 'string'],
        ['color', 5, 'string'],
        ['size', 6, 'int'],
      ],
    );

    // Exactly once: each split transaction's changes are in the changelog once, over two (or three) epochs.
    const changelog = await lakeRows(config.lake, `public.${TABLE}__changes`, `CAST(d._xid AS VARCHAR) AS xid`);
    const counts = new Map<string, number>();
    for (const { xid } of changelog) counts.set(String(xid), (counts.get(String(xid)) ?? 0) + 1);
    for (const { xid, changes } of split) assert.equal(counts.get(xid), changes, `changes of transaction ${xid}`);
  });

  it('reads the same through PyIceberg and DuckDB iceberg_scan', { skip: noPython }, async () => {
    // Both read `main`, which auto mode moves past the breaking changes above only when forced.
    await eventually(() => lakeMatches(db, config.lake, TABLE));
    await forceMainCaughtUp(config.path, lakeAt(config.lake), [`public.${TABLE}`]);
    const source = await sourceState(db, TABLE);
    const metadata = await lakeMetadataPath(config.lake, `public.${TABLE}`);
    const pyiceberg = scanWithPyIceberg(python!, metadata);
    assert.deepEqual(lakeTable(pyiceberg.rows, source.columns), source.rows);
    const duck = scanWithDuckDbIceberg(python!, metadata);
    assert.deepEqual(lakeTable(duck.rows, source.columns), source.rows);
  });
});
