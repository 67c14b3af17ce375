/**
 * Column changes while `pg-cdc start` streams (docs/schema-evolution.md): ALTERs land between concurrent writes,
 * the stream follows each at its place in the WAL without exiting, the state table and its changelog get a new
 * Iceberg schema per change (field ids never reused), and the lake equals the source through our scan, PyIceberg
 * and DuckDB's iceberg_scan.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { lastSchemaChange } from '../../api/service/freshness.js';
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

describe('pg-cdc start follows column changes', () => {
  let db: Db;
  let config: ReturnType<typeof streamConfig>;
  let stream: RunningStream | undefined;
  let writing = true;
  let writer: Promise<void> | undefined;
  const cli = (...args: string[]) => runCli(['--config', config.path, ...args]);

  before(async () => {
    db = await freshDatabase('evolve');
    await db.sql(`
      CREATE TABLE evolve_items (id int PRIMARY KEY, qty int NOT NULL, name text, note text, flag boolean, rank int);
      INSERT INTO evolve_items SELECT g, g, 'item ' || g, 'note ' || g, g % 2 = 0, g * 10 FROM generate_series(1, 40) g;
    `);
    config = streamConfig({ url: db.url(), prefix: 'evolve', flushIntervalSec: 0.3 });
    const init = await cli('init');
    assert.equal(init.code, 0, init.stdout + init.stderr);
  });

  after(async () => {
    writing = false;
    await writer?.catch(() => undefined);
    await stream?.stop('SIGKILL');
    await cli('teardown', '--yes');
  });

  it('ADD, ADD with a default, RENAME, DROP, int → bigint, ADD again under a dropped name and int → text, under concurrent writes', async () => {
    stream = startStream(config.path);
    await stream.waitForLog(/"msg":"streaming"/);
    // Writes that every shape of the table accepts, in their own transactions, all through the ALTERs.
    let next = 1000;
    writer = (async () => {
      while (writing) {
        await db.sql(`INSERT INTO evolve_items (id, qty) VALUES (${next}, ${next})`);
        await db.sql(`UPDATE evolve_items SET qty = qty + 1 WHERE id = ${1 + (next % 40)}`);
        next += 1;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 400));
    await pause();
    await db.sql(`ALTER TABLE evolve_items ADD COLUMN color text`);
    await db.sql(`UPDATE evolve_items SET color = 'red' WHERE id <= 5`);
    await pause();
    // Rows that existed before get the default, as PostgreSQL reports it for them (attmissingval).
    await db.sql(`ALTER TABLE evolve_items ADD COLUMN score int DEFAULT 5`);
    await db.sql(`UPDATE evolve_items SET score = 6 WHERE id = 11`);
    await pause();
    await db.sql(`ALTER TABLE evolve_items RENAME COLUMN name TO label`);
    await db.sql(`UPDATE evolve_items SET label = label || '!' WHERE id BETWEEN 6 AND 8`);
    await pause();
    await db.sql(`ALTER TABLE evolve_items DROP COLUMN note`);
    await pause();
    await db.sql(`ALTER TABLE evolve_items ALTER COLUMN qty TYPE bigint`);
    await db.sql(`UPDATE evolve_items SET qty = 5000000000 WHERE id = 9`);
    await pause();
    // Dropped and added again under its name, between two writes: a new column, not the old one.
    await db.sql(`ALTER TABLE evolve_items DROP COLUMN flag; ALTER TABLE evolve_items ADD COLUMN flag text`);
    await db.sql(`UPDATE evolve_items SET flag = 'new' WHERE id = 10`);
    await pause();
    // The writer stops here: a row it changed after the next ALTER would hold NULL in rank__v6 (no source column
    // feeds it any more), which is the rule, but not what the assertions below look at.
    writing = false;
    await writer;
    // Not a promotion: a new field id under the name, the old values kept under rank__v6.
    await db.sql(`ALTER TABLE evolve_items ALTER COLUMN rank TYPE text`);
    await db.sql(`UPDATE evolve_items SET rank = 'top' WHERE id = 12`);
    await pause();

    await eventually(() => lakeMatches(db, config.lake, 'evolve_items'));
    assert.equal(stream.child.exitCode, null, 'the stream is still running');

    const { store, catalog } = lakeAt(config.lake);
    const state = await loadTableMetadata(store, catalog, 'public.evolve_items');
    const schemas = state.metadata.schemas;
    const current = schemas.find((s) => s['schema-id'] === state.metadata['current-schema-id'])!;
    assert.deepEqual(
      schemas.map((s) => s['schema-id']),
      [0, 1, 2, 3, 4, 5, 6, 7],
      'a schema per change',
    );
    const ids = new Map(current.fields.map((f) => [f.name, f]));
    assert.deepEqual([...ids.keys()], ['id', 'qty', 'label', 'rank', 'color', 'score', 'flag', 'rank__v6']);
    assert.equal(ids.get('label')!.id, 3, 'a rename keeps the field id');
    assert.equal(ids.get('qty')!.id, 2, 'int → bigint is promoted in place');
    assert.equal(ids.get('qty')!.type, 'long');
    assert.equal(ids.get('color')!.id, 7, 'a new column gets the next id');
    assert.equal(ids.get('score')!.id, 8);
    assert.equal(ids.get('flag')!.id, 9, 'a column added again under a dropped name gets a new id');
    assert.deepEqual([ids.get('rank')!.id, ids.get('rank')!.type], [10, 'string'], 'int → text: a new id');
    assert.deepEqual([ids.get('rank__v6')!.id, ids.get('rank__v6')!.type], [6, 'int'], 'the old one stays readable');
    assert.equal(state.metadata['last-column-id'], 10);
    assert.deepEqual(current['identifier-field-ids'], [1]);
    const changes = await loadTableMetadata(store, catalog, 'public.evolve_items__changes');
    const changelogFields = changes.metadata.schemas.find(
      (s) => s['schema-id'] === changes.metadata['current-schema-id'],
    )!.fields;
    assert.deepEqual(
      changelogFields.slice(6).map((f) => [f.name, f.id]),
      [
        ['id', 7],
        ['qty', 8],
        ['label', 9],
        ['rank', 16],
        ['color', 13],
        ['score', 14],
        ['flag', 15],
        ['rank__v6', 12],
      ],
    );
    // The old files still say what they held: the first flag (boolean) is in them under its own id.
    const old = await lakeRows(config.lake, 'public.evolve_items', 'd.id, d.label, d.flag, d.rank__v6');
    const row2 = old.find((r) => Number(r.id) === 2)!;
    assert.equal(row2.flag ?? null, null, 'old files do not feed the new flag');
    assert.equal(row2.label, 'item 2', 'old files feed the renamed column');
    assert.equal(row2.rank__v6, 20, 'the retired column keeps the value from before the type change');
  });

  it('resumes after a kill right after an ALTER, and follows one made while it was down', async () => {
    await db.sql(`ALTER TABLE evolve_items ADD COLUMN size int`);
    await db.sql(`UPDATE evolve_items SET size = id WHERE id <= 20`);
    assert.equal(await stream!.stop('SIGKILL'), 128);
    await db.sql(`ALTER TABLE evolve_items RENAME COLUMN color TO colour`);
    await db.sql(`UPDATE evolve_items SET colour = 'blue' WHERE id = 1`);
    stream = startStream(config.path);
    await stream.waitForLog(/"msg":"streaming"/);
    await db.sql(`INSERT INTO evolve_items (id, qty) VALUES (5000, 1)`);
    await eventually(() => lakeMatches(db, config.lake, 'evolve_items'));
    assert.equal(stream.child.exitCode, null, 'the stream is still running');
    const { store, catalog } = lakeAt(config.lake);
    const state = await loadTableMetadata(store, catalog, 'public.evolve_items');
    const current = state.metadata.schemas.find((s) => s['schema-id'] === state.metadata['current-schema-id'])!;
    assert.deepEqual(
      state.metadata.schemas.map((s) => s['schema-id']),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      'one schema per change, none twice after the restart',
    );
    assert.deepEqual(
      current.fields.map((f) => [f.name, f.id]),
      [
        ['id', 1],
        ['qty', 2],
        ['label', 3],
        ['rank', 10],
        ['colour', 7],
        ['score', 8],
        ['flag', 9],
        ['size', 11],
        ['rank__v6', 6],
      ],
    );
    // What get_freshness tells a reader who sees every column: the rename made while the stream was down.
    const change = lastSchemaChange(
      state.metadata,
      state.metadata['current-schema-id'],
      current.fields.map((f) => f.name),
    );
    assert.deepEqual(
      [change?.classification, change?.renamed_columns],
      ['breaking', [{ from: 'color', to: 'colour' }]],
    );
  });

  it('reads the same through PyIceberg and DuckDB iceberg_scan', { skip: noPython }, async () => {
    // Both read `main`. The drops, renames and type changes above are breaking, so auto mode holds `main` back
    // until a forced promotion (docs/streaming.md#refs-and-promotion).
    await eventually(() => lakeMatches(db, config.lake, 'evolve_items'));
    await forceMainCaughtUp(config.path, lakeAt(config.lake), ['public.evolve_items']);
    const source = await sourceState(db, 'evolve_items');
    const metadata = await lakeMetadataPath(config.lake, 'public.evolve_items');
    const pyiceberg = scanWithPyIceberg(python!, metadata);
    assert.deepEqual(lakeTable(pyiceberg.rows, source.columns), source.rows);
    const duck = scanWithDuckDbIceberg(python!, metadata);
    assert.deepEqual(lakeTable(duck.rows, source.columns), source.rows);
  });
});
