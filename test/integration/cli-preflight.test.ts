import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type RunningPostgres } from '../../stack/postgres.js';
import { runCli } from '../support/cli.js';
import { freshDatabase, writeConfig } from '../support/stack.js';

describe('pg-cdc preflight, as a user runs it', () => {
  let replicaCluster: RunningPostgres;

  before(async () => {
    replicaCluster = await startPostgres({ walLevel: 'replica', durable: false });
  });
  after(async () => {
    await replicaCluster?.stop();
  });

  it('exits 0 on a wal_level=logical source and reports ready', async () => {
    const db = await freshDatabase('cli_ready');
    await db.sql('CREATE TABLE accounts (id bigint PRIMARY KEY, owner text)');
    const config = writeConfig(`source:\n  postgres:\n    url: \${SOURCE_URL}\n`);
    const result = await runCli(['--config', config, 'preflight'], { SOURCE_URL: db.url() });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /ready/);
    assert.match(result.stdout, /wal_level = logical/);

    const json = await runCli(['--config', config, 'preflight', '--json'], { SOURCE_URL: db.url() });
    assert.equal(json.code, 0);
    const report = JSON.parse(json.stdout) as { ready: boolean; checks: Array<{ id: string; status: string }> };
    assert.equal(report.ready, true);
    assert.ok(report.checks.every((check) => check.status !== 'fail'));
  });

  it('exits 1 on a wal_level=replica source, with remediation', async () => {
    await replicaCluster.query('CREATE TABLE IF NOT EXISTS accounts (id bigint PRIMARY KEY)');
    const config = writeConfig(`source:\n  postgres:\n    url: ${replicaCluster.url()}\n`);
    const result = await runCli(['--config', config, 'preflight']);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /✗ wal-level/);
    assert.match(result.stdout, /ALTER SYSTEM SET wal_level = logical/);
    assert.match(result.stdout, /NOT ready|not ready/i);
  });

  it('exits 2 with the key path and the fix when the configuration is wrong', async () => {
    const config = writeConfig(`source:\n  postgres:\n    url: \${UNSET_SOURCE_URL}\nflsuh:\n  interval_sec: -1\n`);
    const result = await runCli(['--config', config, 'preflight'], { UNSET_SOURCE_URL: '' });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /CONFIG_INVALID/);
    assert.match(result.stderr, /flsuh/);
    assert.match(result.stderr, /did you mean "flush"/);
    assert.doesNotMatch(result.stderr, /at .*\.ts:\d+/, 'no stack trace for a configuration error');
  });

  it('exits 2 with a hint when the source cannot be reached', async () => {
    const config = writeConfig(
      `source:\n  postgres:\n    url: postgresql://cdc:secret-pw@127.0.0.1:1/app\n    connect_timeout_sec: 2\n`,
    );
    const result = await runCli(['--config', config, 'preflight']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /SOURCE_UNREACHABLE/);
    assert.match(result.stderr, /hint:/);
    assert.doesNotMatch(result.stderr, /secret-pw/, 'the password never appears in an error');
  });

  it('exits 2 with the path when the configuration file does not exist', async () => {
    const result = await runCli(['--config', '/nonexistent/pg-cdc.yml', 'preflight']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /\/nonexistent\/pg-cdc\.yml/);
    assert.match(result.stderr, /pg-cdc\.example\.yml/);
  });

  it('discover lists selected tables and says why others are left out', async () => {
    const db = await freshDatabase('cli_discover');
    await db.sql(
      'CREATE TABLE kept (id int PRIMARY KEY); CREATE TABLE keyless (v text); CREATE TABLE tmp_scratch (id int PRIMARY KEY)',
    );
    const config = writeConfig(`source:\n  postgres:\n    url: ${db.url()}\ntables:\n  exclude: ["public.tmp_*"]\n`);
    const result = await runCli(['--config', config, 'discover', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const discovery = JSON.parse(result.stdout) as {
      decisions: Array<{ table: { name: string }; selected: boolean; reason: string }>;
    };
    const byName = new Map(discovery.decisions.map((d) => [d.table.name, d]));
    assert.equal(byName.get('kept')?.selected, true);
    assert.equal(byName.get('keyless')?.selected, false);
    assert.match(byName.get('keyless')?.reason ?? '', /REPLICA IDENTITY/);
    assert.equal(byName.get('tmp_scratch')?.selected, false);
    assert.match(byName.get('tmp_scratch')?.reason ?? '', /public\.tmp_\*/);

    // --dry-run says what init would change, and changes nothing: a publication made by hand for one of the two
    // selected tables is reported as lacking the other, and stays as it was.
    await db.sql('CREATE TABLE second (id int PRIMARY KEY); CREATE PUBLICATION pg_cdc_pub FOR TABLE kept, tmp_scratch');
    const dry = await runCli(['--config', config, 'discover', '--dry-run', '--json']);
    assert.equal(dry.code, 0, dry.stderr);
    const { plan } = JSON.parse(dry.stdout) as { plan: Record<string, Record<string, unknown>> };
    assert.deepEqual(plan.publication, { name: 'pg_cdc_pub', exists: true, missing: ['public.second'], unselected: 1 });
    assert.deepEqual(plan.slot, { name: 'pg_cdc_slot', exists: false });
    assert.deepEqual(plan.lake?.to_snapshot, ['public.kept', 'public.second']);
    const text = await runCli(['--config', config, 'discover', '--dry-run']);
    assert.match(text.stdout, /dry run: nothing was changed/);
    assert.match(text.stdout, /publication pg_cdc_pub: lacks public\.second; also publishes 1 table\(s\) not selected/);
    const published = await db.sql<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_publication_tables WHERE pubname = 'pg_cdc_pub'",
    );
    assert.equal(published[0]?.n, 2);
  });

  it('version prints the version, and a mistyped command gets a suggestion', async () => {
    const version = await runCli(['version', '--json']);
    assert.equal(version.code, 0);
    assert.equal((JSON.parse(version.stdout) as { version: string }).version, '0.1.0');
    const typo = await runCli(['promot']);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /unknown command 'promot'[\s\S]*promote/);
  });
});
