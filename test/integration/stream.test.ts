/**
 * `pg-cdc start` end to end: changes made in PostgreSQL after `init` reach the Iceberg state tables (updates and
 * deletes as position deletes) and the changelog, through the table actors on the shared Temporal server; SIGTERM
 * commits what was read and exits 0; a restart resumes without losing or repeating anything.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../support/cli.js';
import { mainCaughtUp } from '../support/main.js';
import { pythonOrSkip, scanWithPyIceberg } from '../support/readers.js';
import { freshDatabase } from '../support/stack.js';
import { freePort } from '../../stack/ports.js';
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

const sortById = <T extends { id: unknown }>(rows: T[]): T[] => [...rows].sort((a, b) => Number(a.id) - Number(b.id));

async function accountsMatch(db: Db, lake: string): Promise<true | string> {
  const source = await db.sql<{
    id: string;
    owner: string | null;
    balance: string | null;
    tags: string | null;
    note: string | null;
  }>(`SELECT id::text AS id, owner, balance::text AS balance, to_jsonb(tags)::text AS tags, note FROM accounts`);
  const rows = await lakeRows(
    lake,
    'public.accounts',
    'd.id, d.owner, d.balance::VARCHAR AS balance, to_json(d.tags)::VARCHAR AS tags, d.note',
  );
  const want = sortById(source).map((r) => [
    String(r.id),
    r.owner,
    r.balance,
    r.tags === null ? null : JSON.stringify(JSON.parse(r.tags)),
    r.note,
  ]);
  const got = sortById(rows as { id: unknown }[]).map((r) => {
    const row = r as Record<string, unknown>;
    const tags = typeof row.tags === 'string' ? JSON.stringify(JSON.parse(row.tags)) : null;
    return [String(row.id), row.owner ?? null, row.balance ?? null, tags, row.note ?? null];
  });
  if (JSON.stringify(want) === JSON.stringify(got)) return true;
  return `accounts differ:\n want ${JSON.stringify(want).slice(0, 600)}\n got  ${JSON.stringify(got).slice(0, 600)}`;
}

const { python, skip: noPython } = pythonOrSkip();

describe('pg-cdc start', () => {
  let db: Db;
  let config: ReturnType<typeof streamConfig>;
  let stream: RunningStream | undefined;
  let metricsUrl: string;
  const cli = (...args: string[]) => runCli(['--config', config.path, ...args]);

  before(async () => {
    db = await freshDatabase('stream');
    await db.sql(`
      CREATE TABLE accounts (id bigint PRIMARY KEY, owner text, balance numeric(12, 2), tags text[], note text);
      ALTER TABLE accounts ALTER COLUMN note SET STORAGE EXTERNAL;
      INSERT INTO accounts SELECT g, 'owner ' || g, g * 1.5, ARRAY['t' || g], NULL FROM generate_series(1, 50) g;
      UPDATE accounts SET note = repeat('toast-', 4000) WHERE id = 7;
      CREATE TABLE events (kind text, payload jsonb);
      ALTER TABLE events REPLICA IDENTITY FULL;
      INSERT INTO events VALUES ('boot', '{"n": 1}');
      CREATE TABLE scratch (id int PRIMARY KEY, v text);
      INSERT INTO scratch VALUES (1, 'a'), (2, 'b');
    `);
    metricsUrl = `http://127.0.0.1:${await freePort()}/metrics`;
    config = streamConfig({
      url: db.url(),
      prefix: 'stream',
      extra: ['metrics:', `  listen: ${new URL(metricsUrl).host}`, '  table_labels: true'],
    });
    const init = await cli('init');
    assert.equal(init.code, 0, init.stdout + init.stderr);
  });

  after(async () => {
    await stream?.stop('SIGKILL');
    await cli('teardown', '--yes');
  });

  it('streams inserts, updates, key changes, deletes, unchanged TOAST, arrays, awkward text and truncate', async () => {
    stream = startStream(config.path, {}, { metrics: true });
    await stream.waitForLog(/"msg":"streaming"/);
    await db.sql(`
      INSERT INTO accounts SELECT g, 'new ' || g, g, ARRAY['a', 'b c', NULL], NULL FROM generate_series(100, 199) g;
      UPDATE accounts SET balance = balance + 1000 WHERE id BETWEEN 10 AND 20;
      UPDATE accounts SET id = 1005 WHERE id = 5;
      DELETE FROM accounts WHERE id IN (1, 2, 150);
      UPDATE accounts SET balance = -1 WHERE id = 7;
      UPDATE accounts SET tags = '{"x,y","q\\"uote",NULL}' WHERE id = 8;
      UPDATE accounts SET owner = E'"q"uo,te\\nsecond line é🐘 ""' WHERE id = 9;
      INSERT INTO accounts VALUES (600, '', 2, '{}', NULL), (601, '"', 3, '{""}', '');
      BEGIN; INSERT INTO accounts VALUES (500, 'short-lived', 1, NULL, NULL); DELETE FROM accounts WHERE id = 500; COMMIT;
      INSERT INTO events VALUES ('dup', '{}'), ('dup', '{}'), ('dup', '{}');
      DELETE FROM events WHERE ctid = (SELECT ctid FROM events WHERE kind = 'dup' LIMIT 1);
      INSERT INTO scratch VALUES (3, 'c');
      TRUNCATE scratch;
      INSERT INTO scratch VALUES (10, 'after');
    `);
    await eventually(() => accountsMatch(db, config.lake));
    await eventually(async () => {
      const events = await lakeRows(config.lake, 'public.events', 'd.kind');
      const kinds = events.map((e) => e.kind).sort();
      return JSON.stringify(kinds) === JSON.stringify(['boot', 'dup', 'dup']) || `events: ${JSON.stringify(kinds)}`;
    });
    await eventually(async () => {
      const rows = await lakeRows(config.lake, 'public.scratch', 'd.id, d.v');
      return JSON.stringify(rows) === JSON.stringify([{ id: 10, v: 'after' }]) || `scratch: ${JSON.stringify(rows)}`;
    });
    const toast = await lakeRows(config.lake, 'public.accounts', 'length(d.note) AS n, d.balance::VARCHAR AS b');
    assert.ok(
      toast.some((r) => Number(r.n) === 24000 && r.b === '-1.00'),
      'the unchanged TOASTed note kept its value',
    );

    // /metrics of `start` reports what just happened, from the stream to the lake.
    const metrics = await (await fetch(metricsUrl)).text();
    const value = (pattern: RegExp): number => Number(pattern.exec(metrics)?.[1] ?? NaN);
    assert.ok(value(/^pgcdc_stream_changes_total (\d+)$/m) >= 120, 'changes read');
    assert.ok(value(/^pgcdc_epochs_committed_total (\d+)$/m) >= 1, 'epochs committed');
    assert.ok(value(/^pgcdc_sink_stage_seconds_count\{stage="epoch"\} (\d+)$/m) >= 1, 'epoch stage timed');
    assert.ok(value(/^pgcdc_sink_stage_seconds_count\{stage="parquet_write"\} (\d+)$/m) >= 1, 'parquet timed');
    assert.ok(value(/^pgcdc_storage_requests_total\{store="filesystem",op="put_if_absent"\} (\d+)$/m) >= 1);
    assert.ok(value(/^pgcdc_iceberg_commits_total (\d+)$/m) >= 2, 'state and changelog commits');
    assert.ok(value(/^pgcdc_table_epoch\{table="public.accounts"\} (\d+)$/m) >= 1, 'opt-in table label');
    assert.match(metrics, /^pgcdc_process_resident_memory_bytes \d+/m);
  });

  it(
    'PyIceberg reads the state table, position deletes applied, and sees the rows PostgreSQL has',
    { skip: noPython },
    async () => {
      await mainCaughtUp(lakeAt(config.lake), ['public.accounts']);
      const scan = scanWithPyIceberg(python!, await lakeMetadataPath(config.lake, 'public.accounts'));
      const source = await db.sql<{ id: string; owner: string | null; balance: string | null; note: string | null }>(
        'SELECT id::text AS id, owner, balance::text AS balance, note FROM accounts',
      );
      // PyIceberg gives ids as numbers and decimals as their exact text (test/support/readers.ts).
      const key = (r: { id: number | string; owner: unknown; balance: string | null; note: unknown }) =>
        JSON.stringify([String(r.id), r.owner ?? null, r.balance, r.note ?? null]);
      assert.deepEqual((scan.rows as Parameters<typeof key>[0][]).map(key).sort(), source.map(key).sort());
    },
  );

  it('writes every change to the changelog, with its operation and commit LSN', async () => {
    await eventually(async () => {
      const changes = await lakeRows(config.lake, 'public.accounts__changes', 'd._op, d._commit_lsn, d.id');
      const ops = new Map<string, number>();
      for (const c of changes) ops.set(String(c._op), (ops.get(String(c._op)) ?? 0) + 1);
      // 100 + 2 + 1 inserts, 11 + 1 + 1 + 1 + 1 updates, 3 + 1 deletes (the key change counts as one update).
      const want = { insert: 103, update: 15, delete: 4 };
      const got = Object.fromEntries([...ops].sort());
      return (
        JSON.stringify(got) === JSON.stringify(Object.fromEntries(Object.entries(want).sort())) ||
        `ops ${JSON.stringify(got)}`
      );
    });
  });

  it('stops on SIGTERM with everything committed and the slot acknowledged', async () => {
    // A last change, in the lake before the stop: the slot must be acknowledged past it. (Not "close to the server's
    // WAL end": other databases of the shared test cluster write WAL of their own all the while.)
    const [marker] = await db.sql<{ lsn: string }>(
      `INSERT INTO scratch VALUES (99, 'last') RETURNING pg_current_wal_insert_lsn()::text AS lsn`,
    );
    await eventually(async () =>
      (await lakeRows(config.lake, 'public.scratch', 'd.id')).some((r) => Number(r.id) === 99) ? true : 'not yet',
    );
    const code = await stream!.stop('SIGTERM');
    stream = undefined;
    assert.equal(code, 0);
    const [slot] = await db.sql<{ confirmed: string; past: boolean }>(
      `SELECT confirmed_flush_lsn::text AS confirmed, confirmed_flush_lsn >= $2::pg_lsn AS past
         FROM pg_replication_slots WHERE slot_name = $1`,
      [config.slot, marker!.lsn],
    );
    assert.ok(slot!.past, `slot confirmed ${slot!.confirmed}, the last change was written at ${marker!.lsn}`);

    // The run artifacts of `init` and of the `start` just stopped (docs/runs.md).
    const runs = readdirSync(join(config.stateDir, 'runs')).sort();
    const read = (run: string, file: string): string => readFileSync(join(config.stateDir, 'runs', run, file), 'utf8');
    const events = (run: string): { v: number; type: string; table?: string }[] =>
      read(run, 'events.ndjson')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { v: number; type: string; table?: string });
    const init = runs.find((r) => r.startsWith('init-'))!;
    assert.equal((JSON.parse(read(init, 'run.json')) as { status: string }).status, 'succeeded');
    assert.deepEqual(
      events(init)
        .filter((e) => e.type === 'snapshot.table')
        .map((e) => e.table)
        .sort(),
      ['public.accounts', 'public.events', 'public.scratch'],
    );
    const start = runs.find((r) => r.startsWith('start-'))!;
    const run = JSON.parse(read(start, 'run.json')) as { status: string; exit_code: number; slot: string };
    assert.deepEqual([run.status, run.exit_code, run.slot], ['succeeded', 0, config.slot]);
    const started = events(start);
    assert.ok(started.every((e) => e.v === 1));
    assert.equal(started[0]?.type, 'run.started');
    assert.equal(started.at(-1)?.type, 'run.finished');
    assert.ok(started.some((e) => e.type === 'epoch.committed' && e.table === 'public.accounts'));
    const state = JSON.parse(read(start, 'state.json')) as { confirmed_lsn: string; tables: Record<string, unknown> };
    assert.ok('public.accounts' in state.tables, JSON.stringify(state));
    assert.match(read(start, 'summary.md'), /^# pg-cdc start: succeeded$/m);
  });

  it('resumes after a restart without losing or repeating changes', async () => {
    await db.sql(`UPDATE accounts SET owner = 'while stopped' WHERE id BETWEEN 30 AND 39`);
    stream = startStream(config.path);
    await stream.waitForLog(/"msg":"streaming"/);
    await db.sql(`INSERT INTO accounts VALUES (900, 'after restart', 9, NULL, NULL)`);
    await eventually(() => accountsMatch(db, config.lake));
    const status = await cli('status', '--json');
    assert.equal(status.code, 0, status.stderr);
    const parsed = JSON.parse(status.stdout) as {
      lake: { tables: { table: string; epoch: number }[] };
      stream: { running: boolean; lag_seconds: number | null };
    };
    assert.ok(
      parsed.lake.tables.some((t) => t.table === 'public.accounts' && t.epoch >= 2),
      status.stdout,
    );
    assert.equal(parsed.stream.running, true, status.stdout);
    assert.equal(typeof parsed.stream.lag_seconds, 'number', status.stdout);
    assert.equal(await stream.stop('SIGTERM'), 0);
    // The last stop waited for the locators' updates, so this start found them current and built none.
    assert.doesNotMatch(stream.logs(), /locator rebuilt|locator update failed/);
    stream = undefined;
  });

  it('teardown clears the spool of the slot, so a later init under the same slot name starts from an empty one', async () => {
    const spool = join(config.stateDir, 'spool', config.slot);
    assert.ok(existsSync(join(spool, encodeURIComponent('public.accounts'), 'lake-table.json')), 'spool bound');
    const teardown = await cli('teardown', '--yes');
    assert.equal(teardown.code, 0, teardown.stderr);
    assert.match(teardown.stdout, /spool .*: cleared/);
    assert.equal(existsSync(spool), false);
  });
});
