/**
 * `pg-cdc reconcile` (docs/cli.md, docs/schema-evolution.md): column changes made between `init` and the first
 * `start`, and while `start` was down, with rows written before and after them. The dry run prints the plan and
 * changes nothing; reconcile applies it; then `start` streams on: the transactions the slot still sends from before
 * the change are mapped onto the new columns (an added column with the value PostgreSQL gives older rows), never
 * evolving the lake back. The lake equals the source through our scan, PyIceberg and DuckDB's iceberg_scan.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadTableMetadata } from '../../lake/iceberg/table.js';
import { runCli } from '../support/cli.js';
import { forceMainCaughtUp } from '../support/main.js';
import { pythonOrSkip, scanWithDuckDbIceberg, scanWithPyIceberg } from '../support/readers.js';
import { asText, lakeMatches, lakeTable, sourceState } from '../support/evolving-table.js';
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
const TABLE = 'reconcile_items';

describe('pg-cdc reconcile', () => {
  let db: Db;
  let config: ReturnType<typeof streamConfig>;
  let stream: RunningStream | undefined;
  const cli = (...args: string[]) => runCli(['--config', config.path, ...args]);
  const fields = async (): Promise<[string, number, string][]> => {
    const { store, catalog } = lakeAt(config.lake);
    const state = await loadTableMetadata(store, catalog, `public.${TABLE}`);
    const current = state.metadata.schemas.find((s) => s['schema-id'] === state.metadata['current-schema-id'])!;
    return current.fields.map((f) => [f.name, f.id, typeof f.type === 'string' ? f.type : f.type.type]);
  };

  before(async () => {
    db = await freshDatabase('reconcile');
    await db.sql(`
      CREATE TABLE ${TABLE} (id int PRIMARY KEY, qty int NOT NULL, name text, note text);
      INSERT INTO ${TABLE} SELECT g, g, 'item ' || g, 'note ' || g FROM generate_series(1, 20) g;
    `);
    config = streamConfig({ url: db.url(), prefix: 'reconcile', flushIntervalSec: 0.3 });
    const init = await cli('init');
    assert.equal(init.code, 0, init.stdout + init.stderr);
  });

  after(async () => {
    await stream?.stop('SIGKILL');
    await cli('teardown', '--yes');
  });

  it('applies changes made between init and the first start, then start streams on', async () => {
    // Rows before and after the ALTERs: the slot sends both, the first in the columns the base has.
    await db.sql(`INSERT INTO ${TABLE} (id, qty, name, note) VALUES (100, 100, 'before', 'gone soon')`);
    await db.sql(`UPDATE ${TABLE} SET name = 'renamed soon' WHERE id = 1`);
    await db.sql(`ALTER TABLE ${TABLE} ADD COLUMN color text DEFAULT 'grey'`);
    await db.sql(`ALTER TABLE ${TABLE} DROP COLUMN note`);
    await db.sql(`ALTER TABLE ${TABLE} RENAME COLUMN name TO label`);
    await db.sql(`INSERT INTO ${TABLE} (id, qty, label, color) VALUES (101, 101, 'after', 'red')`);
    await db.sql(`UPDATE ${TABLE} SET color = 'blue' WHERE id = 2`);

    const dry = await cli('reconcile', '--dry-run');
    assert.equal(dry.code, 1, dry.stdout + dry.stderr);
    assert.equal(
      dry.stdout.trim(),
      [`public.${TABLE}: would apply`, '  rename name → label (id 3)', '  add color (id 5)', '  drop note (id 4)'].join(
        '\n',
      ),
    );
    assert.deepEqual(
      await fields(),
      [
        ['id', 1, 'int'],
        ['qty', 2, 'int'],
        ['name', 3, 'string'],
        ['note', 4, 'string'],
      ],
      'the dry run changed nothing',
    );
    const applied = await cli('reconcile');
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    assert.match(applied.stdout, new RegExp(`public.${TABLE}: applied`));
    assert.deepEqual(await fields(), [
      ['id', 1, 'int'],
      ['qty', 2, 'int'],
      ['label', 3, 'string'],
      ['color', 5, 'string'],
    ]);
    const again = await cli('reconcile', '--dry-run');
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.equal(again.stdout.trim(), `public.${TABLE}: up to date`);

    stream = startStream(config.path);
    await stream.waitForLog(/"msg":"streaming"/);
    await db.sql(`INSERT INTO ${TABLE} (id, qty, label) VALUES (102, 102, 'streamed')`);
    await eventually(() => lakeMatches(db, config.lake, TABLE));
    assert.equal(stream.child.exitCode, null, 'the stream is still running');
    assert.deepEqual(
      (await fields()).map(([name]) => name),
      ['id', 'qty', 'label', 'color'],
      'not evolved back',
    );
  });

  it('applies changes made while start was down, then start streams on', async () => {
    assert.equal(await stream!.stop(), 0);
    await db.sql(`UPDATE ${TABLE} SET qty = 7 WHERE id = 100`);
    await db.sql(`ALTER TABLE ${TABLE} ALTER COLUMN qty TYPE bigint`);
    await db.sql(`ALTER TABLE ${TABLE} ADD COLUMN size int DEFAULT 7`);
    await db.sql(`UPDATE ${TABLE} SET qty = 5000000000, size = 8 WHERE id = 3`);
    await db.sql(`INSERT INTO ${TABLE} (id, qty, label) VALUES (103, 103, 'after')`);

    const dry = await cli('reconcile', '--dry-run', '--table', `public.${TABLE}`);
    assert.equal(dry.code, 1, dry.stdout + dry.stderr);
    assert.equal(
      dry.stdout.trim(),
      [`public.${TABLE}: would apply`, '  type of qty integer → bigint (promoted, id 2)', '  add size (id 6)'].join(
        '\n',
      ),
    );
    const applied = await cli('reconcile', '--table', `public.${TABLE}`);
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);

    stream = startStream(config.path);
    await stream.waitForLog(/"msg":"streaming"/);
    await db.sql(`INSERT INTO ${TABLE} (id, qty, label, size) VALUES (104, 6000000000, 'streamed', 1)`);
    await eventually(() => lakeMatches(db, config.lake, TABLE));
    assert.equal(stream.child.exitCode, null, 'the stream is still running');
    assert.deepEqual(await fields(), [
      ['id', 1, 'int'],
      ['qty', 2, 'long'],
      ['label', 3, 'string'],
      ['color', 5, 'string'],
      ['size', 6, 'int'],
    ]);
    const { store, catalog } = lakeAt(config.lake);
    const state = await loadTableMetadata(store, catalog, `public.${TABLE}`);
    assert.deepEqual(
      state.metadata.schemas.map((s) => s['schema-id']),
      [0, 1, 2],
      'a schema per reconcile, none from the replayed transactions',
    );
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

describe('pg-cdc start after columns changed before its first start, without reconcile', () => {
  const FIRST = 'first_start_items';
  let db: Db;
  let config: ReturnType<typeof streamConfig>;
  let stream: RunningStream | undefined;
  const cli = (...args: string[]) => runCli(['--config', config.path, ...args]);

  before(async () => {
    db = await freshDatabase('first_start');
    await db.sql(`
      CREATE TABLE ${FIRST} (id int PRIMARY KEY, qty int NOT NULL, name text);
      INSERT INTO ${FIRST} SELECT g, g, 'item ' || g FROM generate_series(1, 10) g;
    `);
    config = streamConfig({ url: db.url(), prefix: 'first_start', flushIntervalSec: 0.3 });
    const init = await cli('init');
    assert.equal(init.code, 0, init.stdout + init.stderr);
  });

  after(async () => {
    await stream?.stop('SIGKILL');
    await cli('teardown', '--yes');
  });

  it('follows the change from the WAL, starting in the columns the base recorded', async () => {
    await db.sql(`INSERT INTO ${FIRST} (id, qty, name) VALUES (100, 100, 'before')`);
    await db.sql(`ALTER TABLE ${FIRST} RENAME COLUMN name TO label`);
    await db.sql(`ALTER TABLE ${FIRST} ADD COLUMN size int DEFAULT 3`);
    await db.sql(`INSERT INTO ${FIRST} (id, qty, label, size) VALUES (101, 101, 'after', 4)`);
    stream = startStream(config.path);
    await stream.waitForLog(/"msg":"streaming"/);
    const want = async (): Promise<true | string> => {
      const rows = await db.sql<Record<string, string>>(
        `SELECT id::text AS id, qty::text AS qty, coalesce(label, 'NULL') AS label, coalesce(size::text, 'NULL') AS size
           FROM ${FIRST}`,
      );
      const source = rows.map((r) => [r.id, r.qty, r.label, r.size]).sort((a, b) => Number(a[0]) - Number(b[0]));
      const lake = (
        await lakeRows(
          config.lake,
          `public.${FIRST}`,
          'd.id::VARCHAR AS id, d.qty::VARCHAR AS qty, d.label, d.size::VARCHAR AS size',
        )
      )
        .map((r) => [r.id, r.qty, r.label, r.size].map(asText))
        .sort((a, b) => Number(a[0]) - Number(b[0]));
      return JSON.stringify(lake) === JSON.stringify(source)
        ? true
        : `lake ${JSON.stringify(lake).slice(0, 400)} source ${JSON.stringify(source).slice(0, 400)}`;
    };
    await eventually(want);
    assert.equal(stream.child.exitCode, null, 'the stream is still running');
    assert.doesNotMatch(stream.logs(), /SCHEMA_CHANGED/);
  });
});
