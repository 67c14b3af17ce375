/**
 * `pg-cdc query` and `pg-cdc status` as a user runs them: snapshot a real database with `init` (through the shared
 * Temporal server), classify it with `pg-cdc acl`, read the lake back as roles and compare with PostgreSQL, then
 * tear down and watch status follow.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import pg from 'pg';
import { runCli, type CliResult } from '../support/cli.js';
import { freshDatabase, sharedTemporal, tempDir, uniqueName, writeConfig } from '../support/stack.js';

type Row = Record<string, unknown>;

/** RFC 4180: quoted fields may hold commas, quotes (doubled) and line breaks; records end with CRLF. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted && c === '"' && text[i + 1] === '"') {
      field += '"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (!quoted && c === ',') {
      record.push(field);
      field = '';
    } else if (!quoted && c === '\r' && text[i + 1] === '\n') {
      records.push([...record, field]);
      record = [];
      field = '';
      i++;
    } else {
      field += c;
    }
  }
  return records;
}

describe('pg-cdc query and status', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let config: string;
  let slot: string;
  // Reads run as the role that sees everything, through $PGCDC_ROLE; the governance tests below pass --role.
  const cli = (...args: string[]): Promise<CliResult> =>
    runCli(['--config', config, ...args], { PGCDC_ROLE: 'reader' });
  const as = (role: string, ...args: string[]): Promise<CliResult> =>
    runCli(['--config', config, 'query', '--role', role, ...args], { PGCDC_ROLE: '' });
  const json = async <T = Row[]>(...args: string[]): Promise<T> => {
    const result = await cli(...args);
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  };

  before(async () => {
    db = await freshDatabase('query_status');
    await db.sql(`
      CREATE TABLE people (
        id bigint PRIMARY KEY,
        "Display Name" text,
        amount numeric(12, 2),
        active boolean,
        born date,
        big bigint
      );
      INSERT INTO people VALUES
        (1, 'Ada', 12.34, true, '1990-05-17', 9007199254740993),
        (2, 'Grüße, 世界 🚀', -0.01, false, '2024-02-29', 42),
        (3, NULL, NULL, NULL, NULL, NULL),
        (4, 'O''Brien "q", x', 0, true, '1969-12-31', -5),
        (5, '', 100, false, '2000-01-01', 7);
      CREATE TABLE orders (id int PRIMARY KEY, person_id bigint);
      INSERT INTO orders SELECT g, g % 5 + 1 FROM generate_series(1, 7) g;
    `);
    const temporal = sharedTemporal();
    slot = uniqueName('qs_slot');
    config = writeConfig(
      [
        `state_dir: ${join(tempDir(), 'state')}`,
        'source:',
        '  postgres:',
        `    url: ${db.url()}`,
        'replication:',
        `  slot: ${slot}`,
        'tables:',
        '  tags:',
        '    "public.*": { sensitivity: internal }',
        'governance:',
        '  roles:',
        '    reader: { grant: "sensitivity in [internal, pii]" }',
        '    analyst: { grant: "sensitivity = internal" }',
        '    clerk: { grant: "sensitivity = public" }',
        'temporal:',
        `  address: ${temporal.address}`,
        `  namespace: ${temporal.namespace}`,
        `  task_queue: ${uniqueName('query-status')}`,
        '',
      ].join('\n'),
    );
    const init = await cli('init');
    assert.equal(init.code, 0, init.stdout + init.stderr);
    const register = await cli('acl', 'register');
    assert.equal(register.code, 0, register.stdout + register.stderr);
    const pii = await cli('acl', 'set', `${db.name}.public.people.big`, '--tag', 'sensitivity=pii', '--reason', 'test');
    assert.equal(pii.code, 0, pii.stdout + pii.stderr);
  });

  it('lists the lake tables with their rows, snapshot and LSN', async () => {
    const tables = await json<Row[]>('query', '-f', 'json');
    assert.deepEqual(
      tables.map((t) => [t.table, t.rows]),
      [
        ['public.orders', 7],
        ['public.people', 5],
      ],
    );
    for (const t of tables) {
      assert.match(String(t.snapshot_id), /^\d+$/);
      assert.match(String(t.lsn), /^[0-9A-F]+\/[0-9A-F]+$/);
    }
    const text = await cli('query');
    assert.match(text.stdout, /public\.people\s+\|\s+5 \|/);
    assert.match(text.stdout, /\(2 rows\)/);
  });

  it('reads a table back exactly as PostgreSQL has it', async () => {
    const expected = await db.sql<{ id: string; big: string | null }>(
      `SELECT id, "Display Name", amount::text AS amount, active, born::text AS born, big::text AS big
         FROM people ORDER BY id`,
    );
    const normalized = expected.map((row) => {
      const big = row.big === null ? null : Number(row.big);
      return {
        ...row,
        id: Number(row.id),
        big: big !== null && !Number.isSafeInteger(big) ? row.big : big,
      };
    });
    assert.deepEqual(await json('query', '-t', 'public.people', '-f', 'json'), normalized);
    // Beyond 2^53 a bigint stays a decimal string: the JSON keeps it exact.
    assert.equal(normalized[0]?.big, '9007199254740993');
    const table = await cli('query', '-t', 'public.people');
    assert.match(table.stdout, /^id \| Display Name +\| amount/);
    assert.match(table.stdout, /\(5 rows\)\n$/);
  });

  it('selects columns and filters with bound values, never SQL', async () => {
    const pick = (...where: string[]) =>
      json('query', '-t', 'public.people', '-c', 'id,Display Name', ...where.flatMap((w) => ['-w', w]), '-f', 'json');
    assert.deepEqual(await pick('Display Name:eq:O\'Brien "q", x'), [{ id: 4, 'Display Name': 'O\'Brien "q", x' }]);
    assert.deepEqual(await pick("Display Name:eq:'; DROP TABLE people; --"), []);
    assert.deepEqual(
      (await pick('Display Name:isnull')).map((r) => r.id),
      [3],
    );
    assert.deepEqual(
      (await pick('Display Name:ilike:%GRÜSSE%', 'amount:lt:0')).map((r) => r.id),
      [],
    );
    assert.deepEqual(
      (await pick('Display Name:ilike:%grüße%', 'amount:lt:0')).map((r) => r.id),
      [2],
    );
    assert.deepEqual(
      (await pick('big:gte:7', 'active:eq:false')).map((r) => r.id),
      [2, 5],
    );
    assert.deepEqual(
      (await pick('Display Name:notnull', 'born:lt:1991-01-01')).map((r) => r.id),
      [1, 4],
    );
    // The table is untouched by anything in a value.
    assert.equal((await json('query', '-t', 'public.people', '-f', 'json')).length, 5);
    assert.equal((await db.sql('SELECT count(*)::int AS n FROM people'))[0]?.n, 5);
  });

  it('refuses unknown columns, malformed filters, unknown tables and bad limits with exit 2', async () => {
    const unknown = await cli('query', '-t', 'public.people', '-w', 'nmae:eq:x');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /column "nmae" is not in public\.people/);
    assert.match(unknown.stderr, /id, Display Name, amount, active, born, big/);
    const select = await cli('query', '-t', 'public.people', '-c', 'id,display');
    assert.equal(select.code, 2);
    assert.match(select.stderr, /column "display"/);

    for (const bad of ['id', 'id:between:1', ':eq:1', 'id:eq', 'Display Name:isnull:x']) {
      const result = await cli('query', '-t', 'public.people', '-w', bad);
      assert.equal(result.code, 2, bad);
      assert.match(result.stderr, /QUERY_INVALID: filter .* is malformed/, bad);
      assert.match(result.stderr, /col:op:value/, bad);
      assert.match(result.stderr, /eq, ne, gt, gte, lt, lte, like, ilike, isnull, notnull/, bad);
    }
    // A value is a value: on a bigint column, SQL in it is a number that does not convert.
    const conversion = await cli('query', '-t', 'public.people', '-w', 'id:eq:1 OR 1=1');
    assert.equal(conversion.code, 2);
    assert.match(conversion.stderr, /QUERY_FAILED: .*Could not convert string '1 OR 1=1'/);

    const table = await cli('query', '-t', 'public.peple');
    assert.equal(table.code, 2);
    assert.match(table.stderr, /TABLE_NOT_FOUND: table "public\.peple" is not in the lake/);
    assert.match(table.stderr, /did you mean "public\.people"\?/);
    const bare = await cli('query', '-t', 'orders');
    assert.match(bare.stderr, /did you mean "public\.orders"\?/);

    for (const n of ['0', '-1', 'x', '1.5']) {
      const result = await cli('query', '-t', 'public.people', '-n', n);
      assert.equal(result.code, 2, n);
      assert.match(result.stderr, /-n/, n);
    }
  });

  it('writes CSV that parses back, and limits rows with -n', async () => {
    const csv = await cli('query', '-t', 'public.people', '-f', 'csv');
    assert.equal(csv.code, 0, csv.stderr);
    const records = parseCsv(csv.stdout);
    assert.deepEqual(records[0], ['id', 'Display Name', 'amount', 'active', 'born', 'big']);
    assert.equal(records.length, 6);
    assert.deepEqual(records[2], ['2', 'Grüße, 世界 🚀', '-0.01', 'false', '2024-02-29', '42']);
    assert.deepEqual(records[3], ['3', '', '', '', '', '']);
    assert.deepEqual(records[4]?.slice(0, 2), ['4', 'O\'Brien "q", x']);
    assert.match(csv.stdout, /\r\n5,"",100\.00,/, 'an empty string is quoted, NULL is not');

    const two = await json('query', '-t', 'public.orders', '-n', '2', '-f', 'json');
    assert.deepEqual(two, [
      { id: 1, person_id: 2 },
      { id: 2, person_id: 3 },
    ]);
  });

  it('refuses to read without a role, and names the roles; an unknown role is refused too', async () => {
    const none = await runCli(['--config', config, 'query', '-t', 'public.people'], { PGCDC_ROLE: '' });
    assert.equal(none.code, 2);
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /ROLE_REQUIRED: pg-cdc query reads as a role, and none was given/);
    assert.match(
      none.stderr,
      /pass --role <name> or set PGCDC_ROLE; the roles in pg-cdc\.yml are: analyst, clerk, reader/,
    );
    const list = await runCli(['--config', config, 'query'], { PGCDC_ROLE: '' });
    assert.equal(list.code, 2);
    assert.equal(list.stdout, '');
    const unknown = await as('intruder', '-t', 'public.people');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /PRINCIPAL_UNKNOWN: no role named "intruder"/);
  });

  it('shows a role only the columns its grant admits, in rows, SQL and errors', async () => {
    const rows = await as('analyst', '-t', 'public.people', '-w', 'id:eq:1', '-f', 'json');
    assert.equal(rows.code, 0, rows.stderr);
    assert.deepEqual(JSON.parse(rows.stdout), [
      { id: 1, 'Display Name': 'Ada', amount: '12.34', active: true, born: '1990-05-17' },
    ]);
    const star = await as('analyst', '--sql', 'SELECT * FROM public.people ORDER BY id LIMIT 1', '-f', 'csv');
    assert.equal(star.code, 0, star.stderr);
    assert.equal(star.stdout.split('\r\n')[0], 'id,Display Name,amount,active,born');
    for (const args of [
      ['--sql', 'SELECT big FROM public.people'],
      ['-t', 'public.people', '-c', 'id,big'],
      ['-t', 'public.people', '-w', 'big:gt:0'],
    ]) {
      const refused = await as('analyst', ...args);
      assert.equal(refused.code, 2, args.join(' '));
      assert.equal(refused.stdout, '');
      assert.match(refused.stderr, /QUERY_INVALID|COLUMN_NOT_FOUND/);
      assert.ok(!refused.stderr.includes('9007199254740993'), refused.stderr);
      if (args[0] !== '--sql') assert.match(refused.stderr, /are: id, Display Name, amount, active, born\n/);
    }
    const clerk = await as('clerk', '-f', 'json');
    assert.equal(clerk.code, 0, clerk.stderr);
    assert.deepEqual(JSON.parse(clerk.stdout), []);
    const hidden = await as('clerk', '-t', 'public.people');
    assert.equal(hidden.code, 2);
    assert.match(hidden.stderr, /TABLE_NOT_FOUND: table "public\.people" is not in the lake/);
  });

  it('takes a changed classification at the next read', async () => {
    const set = await cli('acl', 'set', `${db.name}.public.orders`, '--tag', 'sensitivity=public', '--reason', 'test');
    assert.equal(set.code, 0, set.stderr);
    const clerk = await as('clerk', '-f', 'json');
    assert.deepEqual(
      (JSON.parse(clerk.stdout) as Row[]).map((t) => t.table),
      ['public.orders'],
    );
    const back = await cli(
      'acl',
      'set',
      `${db.name}.public.orders`,
      '--tag',
      'sensitivity=internal',
      '--reason',
      'test',
    );
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(JSON.parse((await as('clerk', '-f', 'json')).stdout), []);
  });

  it('runs one SELECT with --sql, reads at --ref / --snapshot, and refuses what is not a read', async () => {
    const joined = await cli(
      'query',
      '--sql',
      'SELECT p.id, count(o.id) AS orders FROM "public"."people" p LEFT JOIN public.orders o ON o.person_id = p.id GROUP BY p.id ORDER BY p.id',
      '-f',
      'json',
    );
    assert.equal(joined.code, 0, joined.stderr);
    assert.deepEqual(JSON.parse(joined.stdout), [
      { id: 1, orders: 1 },
      { id: 2, orders: 2 },
      { id: 3, orders: 2 },
      { id: 4, orders: 1 },
      { id: 5, orders: 1 },
    ]);
    const [listed] = (await json<Row[]>('query', '-f', 'json')).filter((t) => t.table === 'public.orders');
    for (const at of [
      ['--ref', 'main'],
      ['--ref', String(listed?.snapshot_id)],
      ['--snapshot', String(listed?.snapshot_id)],
    ]) {
      assert.equal((await json('query', '-t', 'public.orders', ...at, '-f', 'json')).length, 7, at.join(' '));
    }
    const unknownRef = await cli('query', '-t', 'public.orders', '--ref', 'v2');
    assert.equal(unknownRef.code, 2);
    assert.match(unknownRef.stderr, /REF_NOT_FOUND: public\.orders has no ref or snapshot "v2"/);
    for (const [args, message] of [
      [['--sql', "COPY public.people TO '/tmp/x.csv'"], /QUERY_INVALID: the SQL is refused: only a single SELECT/],
      [['--sql', "SELECT * FROM read_csv('/etc/passwd')"], /table functions .* are not allowed/],
      [['--sql', 'SELECT 1; SELECT 2'], /exactly one statement/],
      [['--sql', 'SELECT 1', '-t', 'public.people'], /--sql cannot be combined with -t/],
      [['-w', 'id:eq:1'], /a table is needed for -w/],
      [['-t', 'public.people', '--changes-since', 'yesterday'], /neither an epoch nor an LSN/],
      [['-t', 'public.people', '--changes-since', '0'], /NOT_AVAILABLE: public\.people has no changelog yet/],
      [['-t', 'public.people', '-n', '10001'], /limit 10001 is above the row limit of 10000/],
    ] as const) {
      const result = await cli('query', ...args);
      assert.equal(result.code, 2, args.join(' '));
      assert.match(result.stderr, message, args.join(' '));
    }
  });

  it('status shows the slot, the publication and the rows per table; the lake survives an unreachable source', async () => {
    // A transaction left open on the source holds the slot back: status names the oldest one.
    const idle = new pg.Client({ connectionString: db.url() });
    await idle.connect();
    let status: {
      source: Row & { slot: Row; publication: Row; oldest_transaction: Row | null };
      lake: Row & { tables: Row[] };
    };
    let text: CliResult;
    try {
      await idle.query('BEGIN');
      const [opened] = (await idle.query<{ started: Date }>('SELECT txid_current(), now() AS started')).rows;
      status = await json('status', '--json');
      text = await cli('status');
      const oldest = status.source.oldest_transaction;
      assert.ok(oldest, 'an open transaction is reported');
      assert.ok(Date.parse(String(oldest.started_at)) <= opened!.started.getTime(), JSON.stringify(oldest));
      assert.ok(Number(oldest.age_seconds) >= 0);
      assert.ok('oldest_prepared_transaction' in status.source);
      assert.match(text.stdout, /oldest source transaction: [\d.]+ (s|min|h) \(pid \d+/);
    } finally {
      await idle.end();
    }
    assert.equal(status.source.ok, true);
    assert.equal(status.source.slot.name, slot);
    assert.equal(status.source.slot.exists, true);
    assert.equal(status.source.slot.active, false);
    assert.match(String(status.source.slot.confirmed_flush_lsn), /\//);
    assert.equal(typeof status.source.slot.retained_wal_bytes, 'number');
    assert.deepEqual(status.source.publication, { name: 'pg_cdc_pub', exists: true, tables: 2 });
    assert.deepEqual(
      status.lake.tables.map((t) => [t.table, t.row_count, t.epoch]),
      [
        ['public.orders', 7, 0],
        ['public.people', 5, 0],
      ],
    );
    assert.match(String(status.lake.consistent_point_lsn), /\//);
    assert.match(text.stdout, new RegExp(`slot ${slot}: inactive`));
    assert.match(text.stdout, /public\.people +5 rows/);

    const offline = writeConfig(
      `source:\n  postgres:\n    url: postgresql://nobody:pw@127.0.0.1:1/none\n    connect_timeout_sec: 2\n` +
        `storage:\n  path: ${String(status.lake.location)}\n`,
    );
    const result = await runCli(['--config', offline, 'status', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const partial = JSON.parse(result.stdout) as { source: { ok: boolean; error: Row }; lake: { tables: Row[] } };
    assert.equal(partial.source.ok, false);
    assert.equal(partial.source.error.code, 'SOURCE_UNREACHABLE');
    assert.equal(partial.lake.tables.length, 2);
  });

  it('after teardown --purge-storage, status shows no slot and an empty lake', async () => {
    const teardown = await cli('teardown', '--yes', '--purge-storage');
    assert.equal(teardown.code, 0, teardown.stderr);
    const status = await json<{ source: { slot: Row; publication: Row }; lake: Row }>('status', '--json');
    assert.equal(status.source.slot.exists, false);
    assert.equal(status.source.publication.exists, false);
    assert.equal(status.lake.snapshotted, false);
    const text = await cli('status');
    assert.match(text.stdout, /does not exist/);
    const listed = await json('query', '-f', 'json');
    assert.deepEqual(listed, []);
  });
});
