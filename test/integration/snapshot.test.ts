import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { icebergRead } from 'icebird';
import pg from 'pg';
import { SUMMARY_KEY } from '../../lake/contract/index.js';
import { runCli } from '../support/cli.js';
import { pythonOrSkip, scanWithPyIceberg, withFileFetch } from '../support/readers.js';
import { freshDatabase, sharedTemporal, tempDir, uniqueName, writeConfig } from '../support/stack.js';

interface Manifest {
  source: { consistent_point_lsn: string; slot: string };
  tables: Record<
    string,
    { state: { metadata_location: string; snapshot_id: string }; row_count: number; committed_lsn: string }
  >;
}

const SCHEMA = `
CREATE TYPE mood AS ENUM ('calm', 'busy');
CREATE TABLE orders (
  id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(12,2), placed timestamptz, tags text[],
  payload jsonb, flag boolean, uid uuid, note text, state mood, "Odd Name" int
);
INSERT INTO orders
SELECT g, 'customer ' || g, round((g * 7.31)::numeric, 2),
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second 123 microseconds',
       CASE WHEN g % 3 = 0 THEN ARRAY['a,b', 'quote"d', NULL] ELSE ARRAY[]::text[] END,
       jsonb_build_object('n', g, 'nested', jsonb_build_array(g, 'x')),
       g % 2 = 0, md5(g::text)::uuid,
       CASE WHEN g % 5 = 0 THEN NULL WHEN g % 7 = 0 THEN '' ELSE 'naïve ☃ ' || g END,
       (ARRAY['calm','busy']::mood[])[1 + g % 2], g * 2
FROM generate_series(1, 6000) AS g;
CREATE TABLE keyless_full (v int, w text);
ALTER TABLE keyless_full REPLICA IDENTITY FULL;
INSERT INTO keyless_full VALUES (1, 'one'), (1, 'one'), (2, NULL);
CREATE TABLE keyless_default (v int);
CREATE TABLE empty_one (id int PRIMARY KEY);
CREATE TABLE long_rows (id int PRIMARY KEY, body text);
INSERT INTO long_rows SELECT g, repeat(md5(g::text), CASE WHEN g = 2 THEN 180000 ELSE 1 END) FROM generate_series(1, 3) g;
`;

const EXPECTED_ORDERS = `
SELECT id::int AS id, customer, amount::text AS amount,
       to_char(placed AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS placed, to_jsonb(tags) AS tags,
       payload::text AS payload, flag, uid::text AS uid, note, state::text AS state, "Odd Name"
FROM orders ORDER BY id`;

describe('pg-cdc init: a consistent snapshot into Iceberg v2', () => {
  const temporal = sharedTemporal();
  const { python, skip: noPython } = pythonOrSkip();
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let config: string;
  let stateDir: string;
  let manifest: Manifest;
  let slot: string;
  let taskQueue: string;
  let initOutput: string;
  let initLog: string;

  before(async () => {
    db = await freshDatabase('snap');
    await db.sql(SCHEMA);
    await db.sql('ANALYZE');
    stateDir = tempDir('pg-cdc-snap-');
    slot = uniqueName('slot');
    taskQueue = uniqueName('snapq');
    config = writeConfig(
      [
        `state_dir: ${stateDir}`,
        'source:',
        '  postgres:',
        `    url: ${db.url()}`,
        'replication:',
        `  slot: ${slot}`,
        `  publication: ${uniqueName('pub')}`,
        'init:',
        '  parallel_workers: 2',
        '  chunk_target_bytes: 131072',
        'temporal:',
        `  address: ${temporal.address}`,
        `  task_queue: ${taskQueue}`,
      ].join('\n'),
    );
    // Info level: one test reads what the copy of a long row says.
    const result = await runCli(['--config', config, 'init', '--json'], { PGCDC_LOG_LEVEL: 'info' });
    assert.equal(result.code, 0, result.stderr);
    initOutput = result.stdout;
    initLog = result.stderr;
    manifest = JSON.parse(readFileSync(join(stateDir, 'lake', 'manifest.json'), 'utf8')) as Manifest;
  });

  after(async () => {
    await runCli(['--config', config, 'teardown', '--yes']);
  });

  it('commits every selected table at the slot consistent point, and leaves out what cannot be captured', async () => {
    const result = JSON.parse(initOutput) as {
      slot: string;
      consistentPoint: string;
      tables: { table: string; rows: number }[];
    };
    assert.equal(result.slot, slot);
    const [slotRow] = await db.sql<{ confirmed_flush_lsn: string }>(
      'SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    );
    assert.equal(slotRow?.confirmed_flush_lsn, result.consistentPoint, 'the base is exactly at the slot start');
    assert.deepEqual(result.tables.map((t) => [t.table, t.rows]).sort(), [
      ['public.empty_one', 0],
      ['public.keyless_full', 3],
      ['public.long_rows', 3],
      ['public.orders', 6000],
    ]);
    assert.equal(manifest.source.consistent_point_lsn, result.consistentPoint);
    assert.equal(manifest.tables['public.keyless_default'], undefined);
    assert.equal(manifest.tables['public.orders']?.committed_lsn, result.consistentPoint);
  });

  it('PyIceberg reads exactly the rows and types PostgreSQL has', { skip: noPython }, async () => {
    const scan = scanWithPyIceberg(python!, manifest.tables['public.orders']!.state.metadata_location);
    const expected = await db.sql(EXPECTED_ORDERS);
    const rows = [...scan.rows].sort((a, b) => Number(a.id) - Number(b.id));
    assert.equal(rows.length, 6000);
    assert.deepEqual(rows, expected);
    assert.equal(scan.summary[SUMMARY_KEY.lsn], manifest.source.consistent_point_lsn);
    assert.deepEqual(
      scan.fields.map(([id, name, type]) => [id, name, type]),
      [
        [1, 'id', 'long'],
        [2, 'customer', 'string'],
        [3, 'amount', 'decimal(12, 2)'],
        [4, 'placed', 'timestamptz'],
        [5, 'tags', 'list<string>'],
        [6, 'payload', 'string'],
        [7, 'flag', 'boolean'],
        [8, 'uid', 'uuid'],
        [9, 'note', 'string'],
        [10, 'state', 'string'],
        [11, 'Odd Name', 'int'],
      ],
    );
    assert.deepEqual(scan.identifier_field_ids, [1]);
    const keyless = scanWithPyIceberg(python!, manifest.tables['public.keyless_full']!.state.metadata_location);
    assert.deepEqual(keyless.rows.map((r) => [r.v, r.w]).sort(), [
      [1, 'one'],
      [1, 'one'],
      [2, null],
    ]);
    assert.deepEqual(scanWithPyIceberg(python!, manifest.tables['public.empty_one']!.state.metadata_location).rows, []);
  });

  it('icebird, an independent JavaScript reader, reads the same rows', async () => {
    const metadataLocation = manifest.tables['public.orders']!.state.metadata_location;
    const metadata = JSON.parse(readFileSync(new URL(metadataLocation), 'utf8')) as { location: string };
    const rows = await withFileFetch(() => icebergRead({ tableUrl: metadata.location, metadata: metadata as never }));
    const expected = await db.sql<{ id: number; customer: string; note: string | null; flag: boolean }>(
      'SELECT id::int AS id, customer, note, flag FROM orders ORDER BY id',
    );
    const seen = rows
      .map((r: Record<string, unknown>) => ({
        id: Number(r.id),
        customer: r.customer,
        note: r.note ?? null,
        flag: r.flag,
      }))
      .sort((a, b) => a.id - b.id);
    assert.deepEqual(seen, expected);
  });

  it('copies a row longer than the small CSV buffers whole, by copying its chunk again', async () => {
    const metadataLocation = manifest.tables['public.long_rows']!.state.metadata_location;
    const metadata = JSON.parse(readFileSync(new URL(metadataLocation), 'utf8')) as { location: string };
    const rows = await withFileFetch(() => icebergRead({ tableUrl: metadata.location, metadata: metadata as never }));
    const expected = await db.sql<{ id: number; body: string }>('SELECT id, body FROM long_rows ORDER BY id');
    const seen = rows
      .map((r: Record<string, unknown>) => ({ id: Number(r.id), body: String(r.body) }))
      .sort((a, b) => a.id - b.id);
    assert.equal(seen[1]?.body.length, 5_760_000);
    assert.deepEqual(seen, expected);
    assert.match(initLog, /copying the chunk again with large ones/);
  });

  it('shows one copyChunk activity per chunk in the workflow history', async () => {
    const connection = await Connection.connect({ address: temporal.address });
    try {
      const client = new Client({ connection, namespace: temporal.namespace });
      const history = await client.workflow.getHandle(`snapshot:${slot}`).fetchHistory();
      const scheduled = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name);
      const copies = scheduled.filter((name) => name === 'copyChunk').length;
      assert.ok(copies >= 4, `orders spans several chunks (${copies} copyChunk activities)`);
      assert.ok(scheduled.includes('holdExportedSnapshot'));
      assert.equal(scheduled.filter((name) => name === 'commitSnapshotTable').length, 4);
      const hostQueue = (history.events ?? []).find(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'holdExportedSnapshot',
      )?.activityTaskScheduledEventAttributes?.taskQueue?.name;
      assert.match(hostQueue ?? '', new RegExp(`^${taskQueue}@`), 'the exporting connection is pinned to this host');
    } finally {
      await connection.close();
    }
  });

  it('fails at once, with the hint, when the source cannot be reached', async () => {
    const unreachable = writeConfig(
      readFileSync(config, 'utf8').replace(/url: postgresql:\/\/([^@]+)@[^/]+\//, 'url: postgresql://$1@127.0.0.1:1/'),
    );
    const started = Date.now();
    const result = await runCli(['--config', unreachable, 'init']);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /SOURCE_UNREACHABLE: cannot connect to PostgreSQL at 127\.0\.0\.1:1\//);
    assert.match(result.stderr, /hint: nothing accepted the connection at 127\.0\.0\.1:1/);
    // Retried, the setup would take minutes (ten attempts, backing off up to 30 s).
    assert.ok(Date.now() - started < 60_000, `init gave up after ${Date.now() - started} ms`);
  });

  it('refuses a second init while the slot exists, and says how to start over', async () => {
    const again = await runCli(['--config', config, 'init']);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /SLOT_EXISTS|LAKE_NOT_EMPTY/);
    assert.match(again.stderr, /teardown/);
  });
});

describe('pg-cdc init under concurrent writes', () => {
  const temporal = sharedTemporal();
  const { python, skip: noPython } = pythonOrSkip();

  it('puts exactly the transactions committed before the slot into the base', { skip: noPython }, async () => {
    const db = await freshDatabase('snapw');
    await db.sql(`
      CREATE TABLE events (seq int PRIMARY KEY, body text);
      CREATE TABLE high_water (id int PRIMARY KEY, seq int NOT NULL);
      INSERT INTO events SELECT g, repeat('x', 200) FROM generate_series(1, 20000) AS g;
      INSERT INTO high_water VALUES (1, 20000);
      ANALYZE;`);
    const stateDir = tempDir('pg-cdc-snapw-');
    const config = writeConfig(
      [
        `state_dir: ${stateDir}`,
        `source:\n  postgres:\n    url: ${db.url()}`,
        `replication:\n  slot: ${uniqueName('slot')}\n  publication: ${uniqueName('pub')}`,
        'init:\n  parallel_workers: 2\n  chunk_target_bytes: 262144',
        `temporal:\n  address: ${temporal.address}\n  task_queue: ${uniqueName('snapw')}`,
      ].join('\n'),
    );
    // Each writer transaction adds event N and moves the high-water mark to N, in another table: a base that mixes
    // two instants, across chunks or across tables, cannot keep them in agreement.
    const writer = new pg.Client({ connectionString: db.url() });
    await writer.connect();
    let seq = 20000;
    let writing = true;
    const writes = (async () => {
      while (writing) {
        seq += 1;
        await writer.query('BEGIN');
        await writer.query("INSERT INTO events VALUES ($1, 'during')", [seq]);
        await writer.query('UPDATE high_water SET seq = $1 WHERE id = 1', [seq]);
        await writer.query('COMMIT');
      }
    })();
    const result = await runCli(['--config', config, 'init', '--json']);
    writing = false;
    await writes;
    await writer.end();
    assert.equal(result.code, 0, result.stderr);

    const manifest = JSON.parse(readFileSync(join(stateDir, 'lake', 'manifest.json'), 'utf8')) as Manifest;
    const events = scanWithPyIceberg(python!, manifest.tables['public.events']!.state.metadata_location).rows;
    const mark = scanWithPyIceberg(python!, manifest.tables['public.high_water']!.state.metadata_location).rows;
    const seqs = events.map((r) => Number(r.seq)).sort((a, b) => a - b);
    const highest = seqs.at(-1)!;
    assert.equal(seqs.length, highest, 'the base holds events 1..N with no gap and no duplicate');
    assert.equal(new Set(seqs).size, seqs.length);
    assert.equal(Number(mark[0]?.seq), highest, 'the high-water table agrees with the events table');
    assert.ok(highest > 20000, 'writes that committed before the slot are in the base');
    assert.ok(highest < seq, `writes after the slot are not (${highest} < ${seq})`);
    await runCli(['--config', config, 'teardown', '--yes']);
  });
});
