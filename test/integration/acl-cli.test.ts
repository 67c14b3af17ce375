/**
 * `pg-cdc acl` as a user runs it: register the lake's tables with the tags of pg-cdc.yml, change a classification,
 * watch `diff` find the drift and `sync` heal it (exit codes 0 / 3 / 2), and `discover --acl` show who sees what.
 * The lake is a manifest written here (governance reads only its table and column names), the source a real database.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ManifestStore, emptyManifest } from '../../lake/manifest.js';
import { FilesystemObjectStore } from '../../lake/storage/filesystem.js';
import { runCli, type CliResult } from '../support/cli.js';
import { freshDatabase, tempDir, writeConfig } from '../support/stack.js';

const tableEntry = (columns: string[]) => ({
  state: { metadata_location: 'file:///nowhere/metadata.json', snapshot_id: null, schema_id: 0 },
  columns,
  primary_key: [columns[0]!],
  row_count: 0,
  epoch: 0,
  committed_lsn: '0/0',
  schema_version: 0,
});

async function writeLake(lakeDir: string, database: string): Promise<void> {
  const manifest = emptyManifest({ database, slot: 'acl_slot', publication: 'acl_pub' });
  await new ManifestStore(new FilesystemObjectStore(lakeDir)).commit(undefined, {
    ...manifest,
    tables: {
      'public.customers': tableEntry(['id', 'name', 'email']),
      'public.orders': tableEntry(['id', 'customer_id', 'amount']),
      'public.page_views': tableEntry(['url', 'seen_at']),
    },
  });
}

describe('pg-cdc acl', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let config: string;
  let lakeDir: string;
  const cli = (...args: string[]): Promise<CliResult> =>
    runCli(['--config', config, ...args], { USER: 'ci-user', PGCDC_LOG_LEVEL: 'warn' });
  const ok = async (...args: string[]): Promise<CliResult> => {
    const result = await cli(...args);
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
    return result;
  };
  const json = async <T>(...args: string[]): Promise<T> => JSON.parse((await ok(...args, '--json')).stdout) as T;
  const res = (rest: string): string => `${db.name}.${rest}`;

  before(async () => {
    db = await freshDatabase('acl_cli');
    await db.sql(`
      CREATE TABLE customers (id int PRIMARY KEY, name text, email text);
      CREATE TABLE orders (id int PRIMARY KEY, customer_id int, amount numeric);
      CREATE TABLE page_views (url text PRIMARY KEY, seen_at timestamptz);
    `);
    const stateDir = join(tempDir(), 'state');
    lakeDir = join(stateDir, 'lake');
    config = writeConfig(
      [
        `state_dir: ${stateDir}`,
        'source:',
        '  postgres:',
        `    url: ${db.url()}`,
        'tables:',
        '  tags:',
        '    "public.*": { domain: sales }',
        '    "public.customers": { domain: crm, sensitivity: pii }',
        '    "public.orders": { sensitivity: internal }',
        'governance:',
        '  require_tags: [sensitivity]',
        '  roles:',
        '    analyst: { grant: "sensitivity in [public, internal]", description: everything but PII }',
        '    support: { grant: "domain = crm" }',
        '',
      ].join('\n'),
    );
  });

  it('says the lake is empty before init, with exit 2', async () => {
    const result = await cli('acl', 'diff');
    assert.equal(result.code, 2);
    assert.match(result.stderr, /LAKE_EMPTY/);
    assert.match(result.stderr, /pg-cdc init/);
  });

  it('registers the lake idempotently; diff is 3 before and 0 after', async () => {
    await writeLake(lakeDir, db.name);
    const before = await cli('acl', 'diff');
    assert.equal(before.code, 3, before.stderr);
    assert.match(before.stdout, /12 drift item\(s\)/);
    assert.match(
      before.stdout,
      new RegExp(`${res('public.customers')}: not registered \\(pg-cdc.yml: domain=crm, sensitivity=pii\\)`),
    );

    const first = await json<{ created: string[]; existing: string[] }>('acl', 'register');
    assert.equal(first.created.length, 12, 'the database, 3 tables and 8 columns');
    const second = await ok('acl', 'register');
    assert.match(second.stdout, /^0 registered, 12 already registered/);

    const clean = await ok('acl', 'diff');
    assert.match(clean.stdout, /registry matches pg-cdc\.yml and the lake/);
  });

  it('get shows own and inherited tags, the version and the roles the tags admit', async () => {
    const view = await json<{ version: number; tags: object; effective: object; matches: string[]; from: object }>(
      'acl',
      'get',
      res('public.customers.email'),
    );
    assert.equal(view.version, 0);
    assert.deepEqual(view.tags, {});
    assert.deepEqual(view.effective, { domain: 'crm', sensitivity: 'pii' });
    assert.deepEqual(view.from, { domain: res('public.customers'), sensitivity: res('public.customers') });
    assert.deepEqual(view.matches, ['support']);
    const missing = await cli('acl', 'get', res('public.custmers'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /RESOURCE_NOT_IN_LAKE/);
    assert.match(missing.stderr, /did you mean "public\.customers"/);
    const invalid = await cli('acl', 'get', `${db.name}.public`);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /RESOURCE_INVALID/);
  });

  it('set needs --reason, bumps the version, is audited with the actor, and warns about keys pg-cdc.yml owns', async () => {
    const noReason = await cli('acl', 'set', res('public.customers'), '--tag', 'sensitivity=internal');
    assert.equal(noReason.code, 2);
    assert.match(noReason.stderr, /--reason/);
    const unregistered = await cli('acl', 'set', 'elsewhere.public.x', '--tag', 'a=b', '--reason', 'r');
    assert.equal(unregistered.code, 2);
    assert.match(unregistered.stderr, /RESOURCE_NOT_REGISTERED/);

    const set = await cli(
      'acl',
      'set',
      res('public.customers'),
      '--tag',
      'sensitivity=internal',
      '--tag',
      'owner=crm-team',
      '--reason',
      'privacy review 7',
    );
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /version 1, tags domain=crm, owner=crm-team, sensitivity=internal/);
    assert.match(set.stderr, /acl sync.*will restore/);

    const view = await json<{ version: number; history: { action: string; actor: string; reason: string }[] }>(
      'acl',
      'get',
      res('public.customers'),
      '--history',
    );
    assert.equal(view.version, 1);
    assert.deepEqual(
      view.history.map((h) => [h.action, h.actor, h.reason]),
      [
        ['register', 'ci-user', 'registration'],
        ['set', 'ci-user', 'privacy review 7'],
      ],
    );
    const text = await ok('acl', 'get', res('public.customers'), '--history');
    assert.match(
      text.stdout,
      /set\s+ci-user: privacy review 7 +\[domain=crm, sensitivity=pii -> domain=crm, owner=crm-team, sensitivity=internal\]/,
    );
  });

  it('diff finds the drifted key (exit 3); sync heals it (exit 3), then finds nothing (exit 0)', async () => {
    const diff = await cli('acl', 'diff', '--json');
    assert.equal(diff.code, 3);
    const report = JSON.parse(diff.stdout) as { drift: { resource: string; keys: string[] }[] };
    assert.deepEqual(
      report.drift.map((d) => [d.resource, d.keys]),
      [[res('public.customers'), ['sensitivity']]],
    );
    const sync = await cli('acl', 'sync', '--actor', 'ci-bot');
    assert.equal(sync.code, 3, sync.stderr);
    assert.match(sync.stdout, /1 drift item\(s\) healed/);
    const again = await cli('acl', 'sync');
    assert.equal(again.code, 0, again.stderr);
    const view = await json<{ tags: object; version: number }>('acl', 'get', res('public.customers'));
    assert.deepEqual(view.tags, { domain: 'crm', owner: 'crm-team', sensitivity: 'pii' }, 'owner is the registry’s');
    assert.equal(view.version, 2);
  });

  it('list shows the registry; --unclassified the tables missing require_tags', async () => {
    const all = await json<{ resource: string }[]>('acl', 'list');
    assert.equal(all.length, 12);
    const unclassified = await json<{ resource: string; effective: object }[]>('acl', 'list', '--unclassified');
    assert.deepEqual(
      unclassified.map((v) => [v.resource, v.effective]),
      [[res('public.page_views'), { domain: 'sales' }]],
    );
    const text = await ok('acl', 'list', '--unclassified');
    assert.match(text.stdout, /unclassified tables:\n\s+RESOURCE\s+VERSION/);
  });

  it('discover --acl maps role -> table -> columns, live with every change', async () => {
    await ok('acl', 'set', res('public.page_views.url'), '--tag', 'sensitivity=public', '--reason', 'urls are public');
    const result = await json<{
      selected: unknown[];
      acl: { roles: { role: string; tables: { table: string; columns: string[] }[] }[]; invisible: string[] };
    }>('discover', '--acl');
    assert.equal(result.selected.length, 3);
    const map = Object.fromEntries(
      result.acl.roles.map((role) => [role.role, role.tables.map((t) => `${t.table}: ${t.columns.join(',')}`)]),
    );
    assert.deepEqual(map, {
      analyst: ['public.orders: id,customer_id,amount', 'public.page_views: url'],
      support: ['public.customers: id,name,email'],
    });
    assert.deepEqual(result.acl.invisible, []);
    const text = await ok('discover', '--acl');
    assert.match(text.stdout, /access map of acl_cli_\w+ \(policy_version \d+\):/);
    assert.match(text.stdout, /analyst: sensitivity in \[public, internal\] {2}\(everything but PII\)/);
    assert.match(text.stdout, /public\.page_views\s+url\n/);
  });
});
