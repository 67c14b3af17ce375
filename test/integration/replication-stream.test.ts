/**
 * ReplicationStream + PgoutputDecoder against a real walsender: every change kind through protocol 1, large and
 * aborted transactions through protocol 2 streaming, acknowledgements moving the slot, back-pressure, and the
 * typed failures (terminated walsender, slot in use, missing slot).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { PgCdcError } from '../../core/errors/index.js';
import type { SourceSettings } from '../../source/connection.js';
import { formatLsn, parseLsn } from '../../core/lsn/index.js';
import {
  ReplicationStream,
  UNCHANGED_TOAST,
  type PgoutputMessage,
  type ReplicationEvent,
  type ReplicationStreamOptions,
} from '../../source/replication/index.js';
import { withTupleValues } from '../support/tuples.js';
import { freshDatabase, uniqueName } from '../support/stack.js';

type Db = Awaited<ReturnType<typeof freshDatabase>>;

let db: Db;
let settings: SourceSettings;
const streams: ReplicationStream[] = [];

async function createSlot(): Promise<string> {
  const slot = uniqueName('slot');
  await db.sql(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  return slot;
}

async function open(slot: string, extra: Partial<ReplicationStreamOptions> = {}): Promise<ReplicationStream> {
  const stream = await ReplicationStream.open({
    settings,
    slot,
    publication: 'pub',
    protoVersion: 1,
    messages: true,
    statusIntervalMs: 1000,
    ...extra,
  });
  streams.push(stream);
  return stream;
}

/** Read pgoutput messages (keepalives skipped) until `done` says the last wanted one has come. */
async function readUntil(
  iterator: AsyncIterator<ReplicationEvent>,
  done: (message: PgoutputMessage, all: PgoutputMessage[]) => boolean,
  timeoutMs = 60_000,
): Promise<PgoutputMessage[]> {
  const messages: PgoutputMessage[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    const timeout = sleep(left, 'timeout' as const);
    const next = await Promise.race([iterator.next(), timeout]);
    if (next === 'timeout')
      assert.fail(
        `timed out; got ${messages.length} messages: ${JSON.stringify(messages.slice(-5).map((m) => m.tag))}`,
      );
    assert.ok(!next.done, 'the stream ended early');
    if (next.value.kind !== 'xlog') continue;
    messages.push(next.value.message);
    if (done(next.value.message, messages)) return messages;
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const slotRow = async (slot: string) =>
  (
    await db.sql<{ active_pid: number | null; confirmed_flush_lsn: string }>(
      'SELECT active_pid, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    )
  )[0]!;

const oid = async (table: string) =>
  Number((await db.sql<{ oid: string }>(`SELECT '${table}'::regclass::oid AS oid`))[0]!.oid);

/** The message without what changes from run to run (LSNs, times, xids), for exact comparison. */
function shape(message: PgoutputMessage): unknown {
  if (message.tag === 'begin') return { tag: 'begin' };
  if (message.tag === 'commit') return { tag: 'commit', flags: message.flags };
  if (message.tag === 'message') return { ...message, lsn: 'lsn', content: message.content.toString('utf8') };
  return withTupleValues(message);
}

before(async () => {
  db = await freshDatabase('repl');
  settings = { url: db.url(), schemas: ['public'], application_name: 'pg-cdc-test', connect_timeout_sec: 10 };
  // Defaults that would format every value differently: the stream's own session settings must win over them.
  await db.sql(`ALTER DATABASE ${pg.escapeIdentifier(db.name)} SET TimeZone = 'America/New_York'`);
  await db.sql(`ALTER DATABASE ${pg.escapeIdentifier(db.name)} SET DateStyle = 'SQL, DMY'`);
  await db.sql(`ALTER DATABASE ${pg.escapeIdentifier(db.name)} SET bytea_output = 'escape'`);
  await db.sql(`ALTER DATABASE ${pg.escapeIdentifier(db.name)} SET extra_float_digits = 0`);
  await db.sql(`ALTER DATABASE ${pg.escapeIdentifier(db.name)} SET IntervalStyle = 'iso_8601'`);
  await db.sql(`
    CREATE TYPE mood AS ENUM ('sad', 'happy');
    CREATE TABLE items (id int PRIMARY KEY, name text, mood mood, big text, at timestamptz, raw bytea, f float8, span interval);
    ALTER TABLE items ALTER COLUMN big SET STORAGE EXTERNAL;
    CREATE TABLE full_rows (id int PRIMARY KEY, v text);
    ALTER TABLE full_rows REPLICA IDENTITY FULL;
    CREATE TABLE logs (id int PRIMARY KEY);
    CREATE TABLE bulk (id int PRIMARY KEY, payload text);
    CREATE PUBLICATION pub FOR TABLE items, full_rows, logs, bulk;
  `);
});

after(async () => {
  for (const stream of streams) await stream.close();
});

describe('ReplicationStream, protocol 1', () => {
  it('decodes inserts, updates (TOAST, key change, FULL), deletes, truncate and logical messages exactly', async () => {
    const slot = await createSlot();
    const big = 'é🐘'.repeat(1500);
    await db.sql(
      `INSERT INTO items VALUES (1, 'a', 'happy', $1, '2026-03-29 01:30:00+02', '\\x00ff', 0.1::float8 + 0.2::float8, '1 day 02:00:03')`,
      [big],
    );
    await db.sql(`UPDATE items SET name = 'b' WHERE id = 1`);
    await db.sql(`UPDATE items SET id = 2 WHERE id = 1`);
    await db.sql(
      `BEGIN; INSERT INTO full_rows VALUES (1, 'x'); UPDATE full_rows SET v = 'y'; DELETE FROM full_rows; COMMIT`,
    );
    await db.sql(`DELETE FROM items WHERE id = 2`);
    await db.sql(`INSERT INTO logs VALUES (1)`);
    await db.sql(`TRUNCATE logs`);
    await db.sql(
      `BEGIN; SELECT pg_logical_emit_message(true, 'pfx', 'in a transaction'); INSERT INTO logs VALUES (2); COMMIT`,
    );
    await db.sql(`SELECT pg_logical_emit_message(false, 'pfx', 'right away')`);

    const [items, fullRows, logs, moodOid] = await Promise.all([
      oid('items'),
      oid('full_rows'),
      oid('logs'),
      db.sql<{ oid: string }>(`SELECT 'mood'::regtype::oid AS oid`).then((r) => Number(r[0]!.oid)),
    ]);
    const stream = await open(slot);
    const iterator = stream[Symbol.asyncIterator]();
    const messages = await readUntil(iterator, (m) => m.tag === 'message' && !m.transactional);

    const row = ['1', 'a', 'happy', big, '2026-03-28 23:30:00+00', '\\x00ff', '0.30000000000000004', '1 day 02:00:03'];
    const column = (name: string, typeOid: number, isKey = false) => ({ name, typeOid, typmod: -1, isKey });
    const logsRelation = {
      tag: 'relation',
      relationId: logs,
      schema: 'public',
      name: 'logs',
      replicaIdentity: 'd',
      columns: [column('id', 23, true)],
    };
    assert.deepEqual(messages.map(shape), [
      { tag: 'begin' },
      { tag: 'type', typeOid: moodOid, schema: 'public', name: 'mood' },
      {
        tag: 'relation',
        relationId: items,
        schema: 'public',
        name: 'items',
        replicaIdentity: 'd',
        columns: [
          column('id', 23, true),
          column('name', 25),
          column('mood', moodOid),
          column('big', 25),
          column('at', 1184),
          column('raw', 17),
          column('f', 701),
          column('span', 1186),
        ],
      },
      { tag: 'insert', relationId: items, newTuple: row },
      { tag: 'commit', flags: 0 },
      { tag: 'begin' },
      { tag: 'update', relationId: items, newTuple: ['1', 'b', ...row.slice(2, 3), UNCHANGED_TOAST, ...row.slice(4)] },
      { tag: 'commit', flags: 0 },
      { tag: 'begin' },
      {
        tag: 'update',
        relationId: items,
        keyTuple: ['1', null, null, null, null, null, null, null],
        newTuple: ['2', 'b', ...row.slice(2, 3), UNCHANGED_TOAST, ...row.slice(4)],
      },
      { tag: 'commit', flags: 0 },
      { tag: 'begin' },
      {
        tag: 'relation',
        relationId: fullRows,
        schema: 'public',
        name: 'full_rows',
        replicaIdentity: 'f',
        columns: [column('id', 23, true), column('v', 25, true)],
      },
      { tag: 'insert', relationId: fullRows, newTuple: ['1', 'x'] },
      { tag: 'update', relationId: fullRows, oldTuple: ['1', 'x'], newTuple: ['1', 'y'] },
      { tag: 'delete', relationId: fullRows, oldTuple: ['1', 'y'] },
      { tag: 'commit', flags: 0 },
      { tag: 'begin' },
      { tag: 'delete', relationId: items, keyTuple: ['2', null, null, null, null, null, null, null] },
      { tag: 'commit', flags: 0 },
      { tag: 'begin' },
      logsRelation,
      { tag: 'insert', relationId: logs, newTuple: ['1'] },
      { tag: 'commit', flags: 0 },
      { tag: 'begin' },
      // TRUNCATE gives the table a new relfilenode; the invalidation makes pgoutput send its schema again.
      logsRelation,
      { tag: 'truncate', relationIds: [logs], cascade: false, restartIdentity: false },
      { tag: 'commit', flags: 0 },
      { tag: 'begin' },
      { tag: 'message', transactional: true, lsn: 'lsn', prefix: 'pfx', content: 'in a transaction' },
      logsRelation,
      { tag: 'insert', relationId: logs, newTuple: ['2'] },
      { tag: 'commit', flags: 0 },
      { tag: 'message', transactional: false, lsn: 'lsn', prefix: 'pfx', content: 'right away' },
    ]);

    // Positions: each begin names its commit's LSN, commits move forward, commit times are now-ish Unix µs.
    let previousEnd = 0n;
    let begin: Extract<PgoutputMessage, { tag: 'begin' }> | undefined;
    for (const message of messages) {
      if (message.tag === 'begin') begin = message;
      if (message.tag !== 'commit') continue;
      assert.equal(message.commitLsn, begin?.finalLsn);
      assert.equal(message.commitTimeMicros, begin?.commitTimeMicros);
      assert.ok(message.endLsn > message.commitLsn && message.commitLsn > previousEnd);
      assert.ok(Math.abs(Number(message.commitTimeMicros / 1000n) - Date.now()) < 10 * 60_000);
      previousEnd = message.endLsn;
    }
    assert.ok(stream.stats.messages >= messages.length && stream.stats.bytes > big.length);

    // acknowledge() moves the slot's confirmed_flush_lsn, and never backwards.
    const lastCommit = messages.filter((m) => m.tag === 'commit').at(-1)!;
    assert.equal(lastCommit.tag, 'commit');
    stream.acknowledge(lastCommit.endLsn);
    stream.acknowledge(parseLsn('0/1'));
    assert.equal(stream.acknowledgedLsn, lastCommit.endLsn);
    await waitFor('confirmed_flush_lsn to reach the last commit', async () => {
      return parseLsn((await slotRow(slot)).confirmed_flush_lsn) === lastCommit.endLsn;
    });
    assert.equal((await slotRow(slot)).confirmed_flush_lsn, formatLsn(lastCommit.endLsn));

    // close() ends the walsender cleanly: the slot is free again.
    await stream.close();
    await waitFor('the slot to become inactive', async () => (await slotRow(slot)).active_pid === null);
    assert.deepEqual(await iterator.next(), { value: undefined, done: true });
  });
});

describe('ReplicationStream, protocol 2', () => {
  it('streams a large transaction in blocks before stream_commit and an aborted one as stream_abort', async () => {
    await db.sql(`ALTER DATABASE ${pg.escapeIdentifier(db.name)} SET logical_decoding_work_mem = '64kB'`);
    const slot = await createSlot();
    const rows = 3000;
    await db.sql(`INSERT INTO bulk SELECT i, repeat('p', 100) FROM generate_series(1, ${rows}) i`);
    await db.sql(`BEGIN; INSERT INTO bulk SELECT i, 'gone' FROM generate_series(${rows + 1}, ${2 * rows}) i; ROLLBACK`);
    await db.sql(`INSERT INTO logs VALUES (10)`);
    const bulk = await oid('bulk');

    // A small queue and a slow start: the socket must pause, and nothing may be lost.
    const stream = await open(slot, { protoVersion: 2, streaming: true, maxQueued: 50 });
    const iterator = stream[Symbol.asyncIterator]();
    await sleep(500);
    const messages = await readUntil(iterator, (m) => m.tag === 'commit');
    assert.ok(stream.stats.pausedMs > 0, `pausedMs ${stream.stats.pausedMs}`);

    const committed = messages.find((m) => m.tag === 'stream_commit');
    const aborted = messages.find((m) => m.tag === 'stream_abort');
    assert.ok(committed?.tag === 'stream_commit' && aborted?.tag === 'stream_abort');
    assert.equal(aborted.subXid, aborted.xid);
    assert.notEqual(committed.xid, aborted.xid);

    // Every data message sits inside a stream_start .. stream_stop block of its own transaction.
    let open_: number | undefined;
    const blocks = new Map<number, number>();
    const inserted = new Map<number, string[]>();
    for (const message of messages) {
      if (message.tag === 'stream_start') {
        assert.equal(open_, undefined);
        assert.equal(message.firstSegment, !blocks.has(message.xid));
        open_ = message.xid;
        blocks.set(message.xid, (blocks.get(message.xid) ?? 0) + 1);
      } else if (message.tag === 'stream_stop') {
        assert.notEqual(open_, undefined);
        open_ = undefined;
      } else if (message.tag === 'insert' && message.relationId === bulk) {
        assert.equal(message.xid, open_);
        inserted.set(message.xid!, [...(inserted.get(message.xid!) ?? []), message.newTuple.value(0) as string]);
      } else if (message.tag === 'relation') {
        assert.equal(message.xid, open_);
      }
    }
    assert.ok((blocks.get(committed.xid) ?? 0) > 1, 'the committed transaction came in more than one block');
    assert.ok((blocks.get(aborted.xid) ?? 0) >= 1);
    assert.deepEqual(
      inserted.get(committed.xid),
      Array.from({ length: rows }, (_, i) => String(i + 1)),
    );
    assert.ok(messages.indexOf(committed) < messages.indexOf(aborted));
    // The small transaction after them is an ordinary begin .. commit without xids on its changes.
    const tail = messages.slice(messages.indexOf(aborted) + 1).map(shape);
    assert.deepEqual(tail.slice(-2), [
      { tag: 'insert', relationId: await oid('logs'), newTuple: ['10'] },
      { tag: 'commit', flags: 0 },
    ]);
    await stream.close();
  });
});

describe('ReplicationStream close', () => {
  it('closes while the walsender waits to send the rest of a large transaction, and loses none of it', async () => {
    const slot = await createSlot();
    const rows = 20_000;
    const first = 1_000_001;
    await db.sql(`INSERT INTO bulk SELECT i, repeat('q', 1000) FROM generate_series(${first}, ${first + rows - 1}) i`);

    const stream = await open(slot, { maxQueued: 10 });
    await readUntil(stream[Symbol.asyncIterator](), (m) => m.tag === 'insert');
    // A full socket: our CopyDone reaches the walsender in the middle of the transaction.
    await waitFor('the walsender to wait on a full socket', async () => {
      const [walsender] = await db.sql<{ wait_event: string | null }>(
        `SELECT wait_event FROM pg_stat_activity
          WHERE pid = (SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1)`,
        [slot],
      );
      return walsender?.wait_event === 'WalSenderWriteData';
    });
    await stream.close();
    await waitFor('the slot to be released', async () => (await slotRow(slot)).active_pid === null);

    // Nothing of the transaction was acknowledged, so the next reader gets all of it.
    const again = await open(slot);
    const messages = await readUntil(again[Symbol.asyncIterator](), (m) => m.tag === 'commit');
    const ids = messages.flatMap((m) => (m.tag === 'insert' ? [Number(m.newTuple.value(0))] : []));
    assert.deepEqual(
      ids,
      Array.from({ length: rows }, (_, i) => first + i),
    );
    await again.close();
  });
});

describe('ReplicationStream failures', () => {
  it('a terminated walsender surfaces as REPLICATION_CONNECTION_LOST with the slot and last LSN', async () => {
    const slot = await createSlot();
    await db.sql(`INSERT INTO logs VALUES (20)`);
    const stream = await open(slot);
    const iterator = stream[Symbol.asyncIterator]();
    await readUntil(iterator, (m) => m.tag === 'commit');
    const pid = (await slotRow(slot)).active_pid;
    assert.ok(pid !== null);
    await db.sql('SELECT pg_terminate_backend($1)', [pid]);
    const failure = await (async () => {
      try {
        for (;;) if ((await iterator.next()).done) return undefined;
      } catch (error) {
        return error;
      }
    })();
    assert.ok(failure instanceof PgCdcError, String(failure));
    assert.equal(failure.code, 'REPLICATION_CONNECTION_LOST');
    assert.equal(failure.context.slot, slot);
    assert.equal(failure.context.lastReceivedLsn, formatLsn(stream.lastReceivedLsn));
    assert.ok(stream.lastReceivedLsn > 0n);
  });

  it('a slot read by another connection is SLOT_IN_USE; a missing one is SLOT_NOT_FOUND', async () => {
    const slot = await createSlot();
    await open(slot);
    await assert.rejects(open(slot), (error: unknown) => {
      assert.ok(error instanceof PgCdcError);
      assert.equal(error.code, 'SLOT_IN_USE');
      assert.match(error.hint ?? '', /stop it/);
      return true;
    });
    await assert.rejects(open('no_such_slot'), (error: unknown) => {
      assert.ok(error instanceof PgCdcError);
      assert.equal(error.code, 'SLOT_NOT_FOUND');
      assert.match(error.hint ?? '', /pg-cdc init/);
      return true;
    });
  });
});

describe('ReplicationStream, missing publication', () => {
  it('fails with PUBLICATION_NOT_FOUND once the walsender decodes a change', async () => {
    const slot = await createSlot();
    await db.sql(`INSERT INTO logs VALUES (40)`);
    const stream = await open(slot, { publication: 'no_such_pub' });
    const iterator = stream[Symbol.asyncIterator]();
    await assert.rejects(
      readUntil(iterator, () => false),
      (error: unknown) => {
        assert.ok(error instanceof PgCdcError);
        assert.equal(error.code, 'PUBLICATION_NOT_FOUND');
        assert.match(error.hint ?? '', /pg-cdc init/);
        return true;
      },
    );
  });
});

describe('ReplicationStream keepalives', () => {
  it('answers a keepalive that requests a reply at once, so a short wal_sender_timeout does not end the stream', async () => {
    const database = pg.escapeIdentifier(db.name);
    await db.sql(`ALTER DATABASE ${database} SET wal_sender_timeout = '2s'`);
    try {
      const slot = await createSlot();
      // No periodic status within the test: only the replies to the server's pings keep the connection.
      const stream = await open(slot, { statusIntervalMs: 600_000 });
      const iterator = stream[Symbol.asyncIterator]();
      // A read that lost the race against the deadline is still waiting: the next read takes it over, since the
      // stream has one consumer and a second read beside it is refused.
      let pending: Promise<IteratorResult<ReplicationEvent>> | undefined;
      const nextEvent = (): Promise<IteratorResult<ReplicationEvent>> => {
        const read = (pending ??= iterator.next());
        void read.then(() => {
          if (pending === read) pending = undefined;
        });
        return read;
      };
      let pings = 0;
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline) {
        const next = await Promise.race([nextEvent(), sleep(deadline - Date.now() + 10, 'idle' as const)]);
        if (next === 'idle') break;
        assert.ok(!next.done);
        if (next.value.kind === 'keepalive' && next.value.replyRequested) pings++;
      }
      assert.ok(pings >= 2, `replies requested: ${pings}`);
      await db.sql(`INSERT INTO logs VALUES (30)`);
      const messages = await readUntil({ next: nextEvent }, (m) => m.tag === 'commit');
      assert.deepEqual(
        messages.filter((m) => m.tag === 'insert').map((m) => m.tag === 'insert' && m.newTuple.values()),
        [['30']],
      );
      assert.equal((await slotRow(slot)).active_pid !== null, true);
    } finally {
      await db.sql(`ALTER DATABASE ${database} RESET wal_sender_timeout`);
    }
  });
});
