import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { SourceConnectionError } from '../../core/errors/index.js';
import { redactUrl, type SourceSettings } from '../../source/connection.js';
import { discoverTables, formatDiscovery } from '../../source/discover.js';
import {
  formatPreflightReport,
  preflightExitCode,
  runPreflight,
  type PreflightCheck,
  type PreflightReport,
  type ReplicationSettings,
} from '../../source/preflight.js';
import { startPostgres, type RunningPostgres } from '../../stack/postgres.js';
import { TEST_ENV } from '../support/env-names.js';

const unique = (prefix: string) => `${prefix}_${randomBytes(4).toString('hex')}`;
const rules = { include: [], exclude: [], policy: 'all' as const };

function urlFor(base: string, database: string, user?: string): string {
  const url = new URL(base);
  url.pathname = `/${encodeURIComponent(database)}`;
  if (user) url.username = encodeURIComponent(user);
  return url.toString();
}

function settingsFor(url: string, extra: Partial<SourceSettings> = {}): SourceSettings {
  return {
    url,
    schemas: ['public'],
    provider: 'auto',
    application_name: 'pg-cdc-test',
    connect_timeout_sec: 5,
    ...extra,
  };
}

function checkOf(report: PreflightReport, id: string): PreflightCheck {
  const found = report.checks.find((c) => c.id === id);
  assert.ok(found, `no "${id}" check in:\n${formatPreflightReport(report)}`);
  return found;
}

let sharedUrl: string;
let ownCluster: RunningPostgres | undefined;
const databases: string[] = [];
const roles: string[] = [];

async function sql(statement: string, params: unknown[] = [], database = 'postgres'): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: urlFor(sharedUrl, database) });
  await client.connect();
  try {
    return await client.query(statement, params);
  } finally {
    await client.end();
  }
}

/** A fresh database on the shared logical cluster, with the given setup run in it. */
async function database(...setup: string[]): Promise<string> {
  const name = unique('preflight');
  await sql(`CREATE DATABASE ${name}`);
  databases.push(name);
  for (const statement of setup) await sql(statement, [], name);
  return name;
}

before(async () => {
  const fromRunner = process.env[TEST_ENV.postgresUrl];
  if (fromRunner) sharedUrl = fromRunner;
  else {
    ownCluster = await startPostgres({ durable: false });
    sharedUrl = ownCluster.url();
  }
});

after(async () => {
  for (const name of databases) await sql(`DROP DATABASE IF EXISTS ${name}`);
  for (const role of roles) await sql(`DROP ROLE IF EXISTS ${role}`);
  await ownCluster?.stop();
});

describe('preflight on a logical cluster', () => {
  it('reports a superuser on wal_level=logical as ready', async () => {
    const db = await database('CREATE TABLE public.orders (id int PRIMARY KEY, note text)');
    const report = await runPreflight(settingsFor(urlFor(sharedUrl, db)), rules, {
      publication: 'pg_cdc_pub',
      slot: unique('slot'),
    });
    const text = formatPreflightReport(report);
    assert.equal(report.ready, true, text);
    assert.equal(preflightExitCode(report), 0);
    assert.equal(report.provider.provider, 'self-managed');
    assert.ok(report.majorVersion >= 10);
    assert.deepEqual(report.protocolVersions.slice(0, 2), [1, 2].slice(0, report.majorVersion >= 14 ? 2 : 1));
    for (const id of ['provider', 'server-version', 'wal-level', 'replication-slots', 'wal-senders']) {
      assert.equal(checkOf(report, id).status, 'ok', text);
    }
    for (const id of ['replication-role', 'create-privilege', 'slot', 'publication', 'tables']) {
      assert.equal(checkOf(report, id).status, 'ok', text);
    }
    assert.deepEqual(
      report.selection?.selected.map((d) => d.qualifiedName),
      ['public.orders'],
    );
    assert.match(text, /✓ wal-level\s+wal_level = logical/);
    assert.match(text, /\nready$/);
  });

  it('fails the replication and CREATE checks of a plain role, with the GRANT / ALTER ROLE fixes', async () => {
    const role = unique('cdc_user');
    await sql(`CREATE ROLE ${role} LOGIN`);
    roles.push(role);
    const db = await database('CREATE TABLE public.orders (id int PRIMARY KEY)');
    const replication = { publication: 'pg_cdc_pub', slot: unique('slot') };
    const url = urlFor(sharedUrl, db, role);

    const report = await runPreflight(settingsFor(url), rules, replication);
    const text = formatPreflightReport(report);
    assert.equal(report.ready, false, text);
    assert.equal(preflightExitCode(report), 1);
    const replicationRole = checkOf(report, 'replication-role');
    assert.equal(replicationRole.status, 'fail');
    assert.equal(replicationRole.remediation, `ALTER ROLE ${role} REPLICATION;`);
    const create = checkOf(report, 'create-privilege');
    assert.equal(create.status, 'fail');
    assert.equal(create.remediation, `GRANT CREATE ON DATABASE ${db} TO ${role};`);
    assert.equal(checkOf(report, 'table-privileges').status, 'fail');
    assert.match(text, /✗ replication-role .*\n\s+fix: ALTER ROLE/);

    // On RDS/Aurora, REPLICATION comes through the rds_replication role.
    const rds = await runPreflight(settingsFor(url, { provider: 'rds' }), rules, replication);
    assert.equal(checkOf(rds, 'replication-role').remediation, `GRANT rds_replication TO ${role};`);
    assert.equal(checkOf(rds, 'provider').status, 'warn');

    await sql(`ALTER ROLE ${role} REPLICATION`);
    await sql(`GRANT CREATE ON DATABASE ${db} TO ${role}`);
    await sql(`ALTER TABLE public.orders OWNER TO ${role}`, [], db);
    const fixed = await runPreflight(settingsFor(url), rules, replication);
    assert.equal(fixed.ready, true, formatPreflightReport(fixed));
    assert.equal(checkOf(fixed, 'table-privileges').status, 'ok');
  });

  it('warns about a table without a primary key, which discover leaves out until REPLICA IDENTITY FULL', async () => {
    const db = await database(
      'CREATE TABLE public.orders (id int PRIMARY KEY)',
      'CREATE TABLE public.events (at timestamptz, payload text)',
      'CREATE SCHEMA audit',
      'CREATE TABLE audit.log (id int PRIMARY KEY)',
    );
    const settings = settingsFor(urlFor(sharedUrl, db));
    const report = await runPreflight(settings, rules, { publication: 'pg_cdc_pub', slot: unique('slot') });
    assert.equal(report.ready, true, formatPreflightReport(report));
    const identity = report.checks.filter((c) => c.id === 'replica-identity');
    assert.equal(identity.length, 1);
    assert.equal(identity[0]!.status, 'warn');
    assert.equal(identity[0]!.table, 'public.events');
    assert.match(identity[0]!.remediation ?? '', /^ALTER TABLE public\.events REPLICA IDENTITY FULL;/);

    const before = await discoverTables(settings, rules);
    const events = before.decisions.find((d) => d.qualifiedName === 'public.events')!;
    assert.equal(events.selected, false);
    assert.match(events.reason, /^no primary key and REPLICA IDENTITY DEFAULT: updates and deletes cannot be captured/);
    const audit = before.decisions.find((d) => d.qualifiedName === 'audit.log')!;
    assert.equal(audit.reason, 'schema "audit" is not in source.postgres.schemas');
    assert.equal(before.decisions.find((d) => d.qualifiedName === 'public.orders')!.table.columns, 1);
    assert.match(formatDiscovery(before), /public\.events\s+no primary key and REPLICA IDENTITY DEFAULT/);

    await sql('ALTER TABLE public.events REPLICA IDENTITY FULL', [], db);
    const afterFix = await discoverTables(settings, rules);
    const fixed = afterFix.decisions.find((d) => d.qualifiedName === 'public.events')!;
    assert.equal(fixed.selected, true);
    assert.equal(fixed.table.replicaIdentity, 'full');
    assert.match(fixed.note ?? '', /REPLICA IDENTITY FULL/);
    assert.deepEqual(
      afterFix.selected.map((d) => d.qualifiedName),
      ['public.events', 'public.orders'],
    );
  });

  it('warns about an existing slot with the teardown hint and reports an existing publication', async () => {
    const slot = unique('slot');
    const db = await database(
      'CREATE TABLE public.orders (id int PRIMARY KEY)',
      'CREATE PUBLICATION pg_cdc_pub FOR TABLE public.orders',
    );
    await sql(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot], db);
    try {
      const report = await runPreflight(settingsFor(urlFor(sharedUrl, db)), rules, {
        publication: 'pg_cdc_pub',
        slot,
      });
      assert.equal(report.ready, true, formatPreflightReport(report));
      const slotCheck = checkOf(report, 'slot');
      assert.equal(slotCheck.status, 'warn');
      assert.match(slotCheck.summary, /already exists/);
      assert.match(slotCheck.remediation ?? '', /pg-cdc teardown/);
      assert.equal(checkOf(report, 'replication-slots').status, 'ok');
      const publication = checkOf(report, 'publication');
      assert.equal(publication.status, 'ok');
      assert.match(publication.summary, /exists \(1 tables/);
    } finally {
      await sql('SELECT pg_drop_replication_slot($1)', [slot], db);
    }
  });

  it('throws SourceConnectionError with context and a hint, never the password', async () => {
    const closed = new URL(sharedUrl);
    closed.port = '1';
    closed.password = 'sekret';
    const url = closed.toString();
    assert.equal(redactUrl(url).includes('sekret'), false);
    assert.match(redactUrl(url), /:\*\*\*@/);
    await assert.rejects(
      () => runPreflight(settingsFor(url), rules, { publication: 'p', slot: 's' }),
      (error: unknown) => {
        assert.ok(error instanceof SourceConnectionError);
        assert.equal(error.context.port, 1);
        assert.ok(error.context.host);
        assert.match(error.hint ?? '', /server running/);
        assert.equal(error.describe().includes('sekret'), false);
        return true;
      },
    );
  });
});

describe('preflight on a wal_level=replica cluster with one replication slot', () => {
  let replica: RunningPostgres;
  const replication: ReplicationSettings = { publication: 'pg_cdc_pub', slot: 'pg_cdc_slot' };

  before(async () => {
    replica = await startPostgres({ walLevel: 'replica', durable: false, maxReplicationSlots: 1 });
    await replica.query('CREATE TABLE public.orders (id int PRIMARY KEY)');
  });
  after(() => replica?.stop());

  it('fails wal_level with a provider-specific fix, and tracks slot headroom', async () => {
    const report = await runPreflight(settingsFor(replica.url()), rules, replication);
    const text = formatPreflightReport(report);
    assert.equal(report.ready, false, text);
    assert.equal(preflightExitCode(report), 1);
    const walLevel = checkOf(report, 'wal-level');
    assert.equal(walLevel.status, 'fail');
    assert.match(walLevel.summary, /wal_level = replica/);
    assert.match(walLevel.remediation ?? '', /ALTER SYSTEM SET wal_level = logical/);
    assert.match(text, /✗ wal-level .*\n\s+fix: ALTER SYSTEM SET wal_level/);
    const slots = checkOf(report, 'replication-slots');
    assert.equal(slots.status, 'warn', text);
    assert.match(slots.summary, /0 of 1 in use/);

    const aurora = await runPreflight(settingsFor(replica.url(), { provider: 'aurora' }), rules, replication);
    const auroraFix = checkOf(aurora, 'wal-level').remediation ?? '';
    assert.match(auroraFix, /rds\.logical_replication = 1 in the DB cluster parameter group/);
    assert.match(auroraFix, /wal_level/);

    await replica.query(`SELECT pg_create_physical_replication_slot('held')`);
    try {
      const full = await runPreflight(settingsFor(replica.url()), rules, replication);
      const fullSlots = checkOf(full, 'replication-slots');
      assert.equal(fullSlots.status, 'fail', formatPreflightReport(full));
      assert.match(fullSlots.summary, /1 of 1 in use, none free/);
      assert.match(fullSlots.remediation ?? '', /max_replication_slots/);
    } finally {
      await replica.query(`SELECT pg_drop_replication_slot('held')`);
    }
  });
});
