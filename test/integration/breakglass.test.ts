/**
 * Break-glass grants end to end on the shared Temporal server: `pg-cdc acl break-glass grant` starts
 * `breakglass:<principal>:<resource>`, a worker in this process runs it, and AccessPolicy.decide (reading the same
 * registry file, as a server would) sees the grant at once and loses it at the TTL, also when the worker that granted
 * it is gone.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { NativeConnection, Worker, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities } from '../../activities/index.js';
import { loadConfig, type PgCdcConfig } from '../../core/config/index.js';
import { silentLogger } from '../../core/log/index.js';
import { processRegistry, renderMetrics } from '../../core/metrics/index.js';
import { openAccessPolicy, type GovernedAccessPolicy } from '../../governance/policy.js';
import { Registry } from '../../governance/registry.js';
import { ManifestStore, emptyManifest } from '../../lake/manifest.js';
import { FilesystemObjectStore } from '../../lake/storage/filesystem.js';
import { connectWorker } from '../../workers/connection.js';
import { bundleWorkflows, createWorker } from '../../workers/worker.js';
import {
  extendSignal,
  extendUpdate,
  revokeSignal,
  stateQuery,
  type BreakGlassResult,
} from '../../workflows/breakglass-messages.js';
import { runCli, type CliResult } from '../support/cli.js';
import { sharedTemporal, tempDir, uniqueName, writeConfig } from '../support/stack.js';

/** Audit entries of `action` this process wrote (its in-process workers and registries), from its metrics. */
async function audits(action: string): Promise<number> {
  const family = await processRegistry.getSingleMetric('pgcdc_audit_events_total')?.get();
  return family?.values.find((v) => v.labels.action === action)?.value ?? 0;
}

const DB = 'shop';
const lake = [
  { identifier: 'public.customers', columns: ['id', 'name', 'email'] },
  { identifier: 'public.customers__changes', columns: ['_op', '_seq', 'id', 'name', 'email'] },
  { identifier: 'public.orders', columns: ['id', 'amount'] },
];

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('break-glass grants', () => {
  const temporal = sharedTemporal();
  let client: Client;
  let nativeConnection: NativeConnection;
  let bundle: WorkflowBundleWithSourceMap;
  let configPath: string;
  let config: PgCdcConfig;
  let taskQueue: string;
  let policy: GovernedAccessPolicy;
  let registry: Registry;

  const cli = (...args: string[]): Promise<CliResult> =>
    runCli(['--config', configPath, 'acl', 'break-glass', ...args], { USER: 'oncall' });
  const target = (resource: string) => ['--principal', 'support', '--resource', `${DB}.${resource}`];
  const visible = async (): Promise<Record<string, string[]>> => {
    const decision = await policy.decide('support', lake);
    return Object.fromEntries([...decision.tables].map(([t, g]) => [t, [...g.columns]]));
  };

  /** A worker on the test's task queue, running until `stop()`. */
  async function startWorker(): Promise<{ stop: () => Promise<void> }> {
    const worker: Worker = await createWorker({
      connection: nativeConnection,
      namespace: temporal.namespace,
      taskQueue,
      activities: createActivities({ config, sourceUrl: '', log: silentLogger }),
      log: silentLogger,
      workflowBundle: bundle,
    });
    const running = worker.run();
    return {
      stop: async () => {
        worker.shutdown();
        await running;
      },
    };
  }

  before(async () => {
    client = new Client({
      connection: await Connection.connect({ address: temporal.address }),
      namespace: temporal.namespace,
    });
    const endpoint = {
      address: temporal.address,
      namespace: temporal.namespace,
      taskQueue: 'unused',
      uiUrl: undefined,
      embedded: undefined,
      connectionOptions: { address: temporal.address },
    };
    [nativeConnection, bundle] = await Promise.all([connectWorker(endpoint, silentLogger), bundleWorkflows()]);

    const stateDir = join(tempDir(), 'state');
    taskQueue = uniqueName('breakglass');
    configPath = writeConfig(
      [
        `state_dir: ${stateDir}`,
        'source:',
        '  postgres:',
        `    url: postgresql://nobody@127.0.0.1:1/${DB}`,
        'tables:',
        '  tags:',
        '    "public.orders": { domain: crm }',
        'governance:',
        '  roles:',
        '    support: { grant: "domain = crm" }',
        'temporal:',
        `  address: ${temporal.address}`,
        `  namespace: ${temporal.namespace}`,
        `  task_queue: ${taskQueue}`,
        '',
      ].join('\n'),
    );
    config = await loadConfig(configPath);
    const manifest = emptyManifest({ database: DB, slot: 'bg_slot', publication: 'bg_pub' });
    const entry = (columns: string[]) => ({
      state: { metadata_location: 'file:///nowhere', snapshot_id: null, schema_id: 0 },
      columns,
      primary_key: [columns[0]!],
      row_count: 0,
      epoch: 0,
      committed_lsn: '0/0',
      schema_version: 0,
    });
    await new ManifestStore(new FilesystemObjectStore(join(stateDir, 'lake'))).commit(undefined, {
      ...manifest,
      tables: { 'public.customers': entry(['id', 'name', 'email']), 'public.orders': entry(['id', 'amount']) },
    });
    registry = Registry.forConfig(config);
    await registry.register({ kind: 'database', db: DB }, {}, { actor: 'test', reason: 'setup' });
    await registry.register(
      { kind: 'table', db: DB, schema: 'public', table: 'orders' },
      { domain: 'crm' },
      {
        actor: 'test',
        reason: 'setup',
      },
    );
    policy = openAccessPolicy(config, { registry });
  });

  after(async () => {
    await policy?.close();
    registry?.close();
    await client?.connection.close();
    await nativeConnection?.close();
  });

  it('grants at once, shows in decide(), and disappears on its own at a 3 s TTL', async () => {
    const worker = await startWorker();
    try {
      assert.deepEqual(await visible(), { 'public.orders': ['id', 'amount'] });
      const audited = { grant: await audits('grant'), expire: await audits('expire') };
      const started = Date.now();
      const grant = await cli('grant', ...target('public.customers.email'), '--ttl', '3s', '--reason', 'INC-1');
      assert.equal(grant.code, 0, grant.stdout + grant.stderr);
      assert.match(grant.stdout, /support may read shop\.public\.customers\.email until /);
      // This process's registry: the gauge reads it, and its worker wrote the grant.
      assert.match(await renderMetrics(), /^pgcdc_breakglass_grants_active 1$/m);
      assert.equal(await audits('grant'), audited.grant + 1);
      // Visible as soon as the command returned: no cache, no restart.
      assert.deepEqual(await visible(), {
        'public.orders': ['id', 'amount'],
        'public.customers': ['email'],
        'public.customers__changes': ['_op', '_seq', 'email'],
      });
      const decision = await policy.decide('support', lake);
      assert.equal(decision.tables.get('public.customers')?.via, 'break-glass');

      const handle = client.workflow.getHandle('breakglass:support:shop.public.customers.email');
      const result = (await handle.result()) as BreakGlassResult;
      const elapsed = Date.now() - started;
      assert.equal(result.ended?.how, 'expired');
      assert.ok(elapsed < 20_000, `ended ${elapsed} ms after the grant command started`);
      assert.deepEqual(await visible(), { 'public.orders': ['id', 'amount'] });
      assert.match(await renderMetrics(), /^pgcdc_breakglass_grants_active 0$/m);
      assert.equal(await audits('expire'), audited.expire + 1);
      const audit = await registry.audit({ principal: 'support' });
      assert.deepEqual(
        audit.map((e) => [e.action, e.actor, e.reason]),
        [
          ['grant', 'oncall', 'INC-1'],
          ['expire', 'pg-cdc', 'ttl reached'],
        ],
      );
      const ended = (await registry.grants.list(1))[0]!;
      const lasted = Date.parse(ended.endedAt!) - Date.parse(ended.grantedAt);
      assert.equal(Date.parse(ended.expiresAt) - Date.parse(ended.grantedAt), 3000);
      assert.ok(lasted >= 3000 && lasted < 10_000, `the grant lasted ${lasted} ms for a 3 s TTL`);
    } finally {
      await worker.stop();
    }
  });

  it('is revoked at the TTL by another worker after the granting worker is gone', async () => {
    const first = await startWorker();
    const grant = await cli('grant', ...target('public.customers'), '--ttl', '6s', '--reason', 'INC-2');
    assert.equal(grant.code, 0, grant.stdout + grant.stderr);
    await first.stop();
    assert.deepEqual((await visible())['public.customers'], ['id', 'name', 'email']);
    const second = await startWorker();
    try {
      const handle = client.workflow.getHandle('breakglass:support:shop.public.customers');
      const result = (await handle.result()) as BreakGlassResult;
      assert.equal(result.ended?.how, 'expired');
      const ended = (await registry.grants.latestFor('breakglass:support:shop.public.customers'))!;
      assert.equal(ended.endedBy, 'pg-cdc');
      assert.equal(ended.endReason, 'ttl reached', 'ended by the workflow, not by a reader');
      assert.equal((await registry.audit({ principal: 'support' })).filter((e) => e.action === 'expire').length, 2);
      assert.equal((await visible())['public.customers'], undefined);
    } finally {
      await second.stop();
    }
  });

  it('never outlives its TTL while no worker runs; the workflow ends it once a worker is back', async () => {
    const first = await startWorker();
    const grant = await cli('grant', ...target('public.customers.name'), '--ttl', '3s', '--reason', 'INC-3');
    assert.equal(grant.code, 0, grant.stdout + grant.stderr);
    await first.stop();
    assert.deepEqual((await visible())['public.customers'], ['name']);
    await sleep(3500);
    assert.equal((await visible())['public.customers'], undefined, 'gone at the TTL with no worker running');
    const second = await startWorker();
    try {
      const result = (await client.workflow
        .getHandle('breakglass:support:shop.public.customers.name')
        .result()) as BreakGlassResult;
      assert.equal(result.ended?.how, 'expired');
      const expiries = (await registry.audit({ principal: 'support' })).filter((e) => e.action === 'expire');
      assert.equal(expiries.length, 3, 'ended exactly once');
      assert.equal(expiries.at(-1)?.reason, 'ttl reached before a worker ended it', 'by the reader, at the TTL');
    } finally {
      await second.stop();
    }
  });

  it('extends and revokes through Updates, audited with who and why', async () => {
    const worker = await startWorker();
    try {
      const grant = await cli('grant', ...target('public.customers'), '--ttl', '1h', '--reason', 'INC-4', '--json');
      assert.equal(grant.code, 0, grant.stderr);
      const granted = JSON.parse(grant.stdout) as { expiresAt: string };
      const listed = JSON.parse((await cli('list', '--json')).stdout) as { resource: string; grantedBy: string }[];
      assert.deepEqual(
        listed.map((g) => [g.resource, g.grantedBy]),
        [['shop.public.customers', 'oncall']],
      );
      const twice = await cli('grant', ...target('public.customers'), '--ttl', '1h', '--reason', 'again');
      assert.equal(twice.code, 2);
      assert.match(twice.stderr, /BREAK_GLASS_ACTIVE/);

      const extend = await cli(
        'extend',
        ...target('public.customers'),
        '--ttl',
        '30m',
        '--reason',
        'still on it',
        '--json',
      );
      assert.equal(extend.code, 0, extend.stderr);
      const extended = JSON.parse(extend.stdout) as { expiresAt: string };
      assert.equal(Date.parse(extended.expiresAt) - Date.parse(granted.expiresAt), 30 * 60_000);
      const tooLong = await cli('extend', ...target('public.customers'), '--ttl', '8d', '--reason', 'x');
      assert.equal(tooLong.code, 2);
      assert.match(tooLong.stderr, /7-day maximum/);

      // The workflow refuses a bad TTL itself (whoever sends it): the validator rejects it before it reaches history.
      const handle = client.workflow.getHandle('breakglass:support:shop.public.customers');
      const refused = await handle
        .executeUpdate(extendUpdate, { args: [{ ttl: 'soon', reason: 'by hand' }], updateId: 'bad-ttl' })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      assert.ok(refused instanceof WorkflowUpdateFailedError, String(refused));
      assert.ok(refused.cause instanceof ApplicationFailure);
      assert.equal(refused.cause.type, 'BREAK_GLASS_TTL_INVALID');
      assert.match(refused.cause.message, /"soon" is not a duration/);
      const events = (await handle.fetchHistory()).events ?? [];
      assert.ok(events.length > 0);
      assert.equal(
        events.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.protocolInstanceId === 'bad-ttl').length,
        0,
        'the refused Update is not in the history',
      );
      // An Update returns the state it left.
      const state = await handle.executeUpdate(extendUpdate, {
        args: [{ ttl: '1m', reason: 'by hand', actor: 'ops' }],
      });
      assert.equal(Date.parse(state.expiresAt) - Date.parse(extended.expiresAt), 60_000);
      assert.equal(state.extensions.at(-1)?.by, 'ops');
      assert.deepEqual(await handle.query(stateQuery), state);

      const revoke = await cli('revoke', ...target('public.customers'), '--reason', 'fixed', '--actor', 'lead');
      assert.equal(revoke.code, 0, revoke.stderr);
      assert.equal((await visible())['public.customers'], undefined);
      const result = (await client.workflow
        .getHandle('breakglass:support:shop.public.customers')
        .result()) as BreakGlassResult;
      assert.deepEqual(result.ended, { how: 'revoked', by: 'lead', reason: 'fixed' });
      assert.equal(result.extensions.length, 2);
      const last = (await registry.audit({ principal: 'support' })).slice(-4);
      assert.deepEqual(
        last.map((e) => [e.action, e.actor, e.reason]),
        [
          ['grant', 'oncall', 'INC-4'],
          ['extend', 'oncall', 'still on it'],
          ['extend', 'ops', 'by hand'],
          ['revoke', 'lead', 'fixed'],
        ],
      );
      const again = await cli('revoke', ...target('public.customers'));
      assert.equal(again.code, 2);
      assert.match(again.stderr, /BREAK_GLASS_NOT_FOUND/);
      const unknown = await cli(
        'grant',
        '--principal',
        'intern',
        '--resource',
        'shop.public.orders',
        '--ttl',
        '1h',
        '--reason',
        'x',
      );
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /PRINCIPAL_UNKNOWN[\s\S]*the roles in pg-cdc.yml are: support/);
    } finally {
      await worker.stop();
    }
  });
  it('still takes the signals that executions started before the Updates were driven by', async () => {
    const worker = await startWorker();
    try {
      const grant = await cli('grant', ...target('public.orders'), '--ttl', '1h', '--reason', 'INC-5');
      assert.equal(grant.code, 0, grant.stderr);
      const handle = client.workflow.getHandle('breakglass:support:shop.public.orders');
      await handle.signal(extendSignal, { ttl: '10m', reason: 'signalled', actor: 'old-cli' });
      await handle.signal(revokeSignal, { reason: 'signalled', actor: 'old-cli' });
      const result = (await handle.result()) as BreakGlassResult;
      assert.deepEqual(
        result.extensions.map((e) => [e.ttl, e.by]),
        [['10m', 'old-cli']],
      );
      assert.deepEqual(result.ended, { how: 'revoked', by: 'old-cli', reason: 'signalled' });
    } finally {
      await worker.stop();
    }
  });

  it('fails with BREAK_GLASS_NOT_APPLIED when no worker takes an Update within --wait', async () => {
    const first = await startWorker();
    const grant = await cli('grant', ...target('public.customers.id'), '--ttl', '5s', '--reason', 'INC-6');
    assert.equal(grant.code, 0, grant.stderr);
    await first.stop();
    const revoke = await cli('revoke', ...target('public.customers.id'), '--wait', '2s', '--reason', 'x');
    assert.equal(revoke.code, 2, revoke.stdout + revoke.stderr);
    assert.match(revoke.stderr, /BREAK_GLASS_NOT_APPLIED[\s\S]*is a worker running\?/);
    // A grant no worker took is stopped, so nothing is granted later behind the caller's back.
    const late = await cli(
      'grant',
      ...target('public.customers.email'),
      '--ttl',
      '1h',
      '--reason',
      'x',
      '--wait',
      '2s',
    );
    assert.equal(late.code, 2, late.stdout + late.stderr);
    assert.match(late.stderr, /BREAK_GLASS_NOT_APPLIED/);
    const stopped = await client.workflow.getHandle('breakglass:support:shop.public.customers.email').describe();
    assert.equal(stopped.status.name, 'TERMINATED');
    const second = await startWorker();
    try {
      // However it ends (the late revocation or the TTL), it ends, once.
      await client.workflow.getHandle('breakglass:support:shop.public.customers.id').result();
      const ended = (await registry.grants.latestFor('breakglass:support:shop.public.customers.id'))!;
      assert.notEqual(ended.endedAt, null);
    } finally {
      await second.stop();
    }
  });
});
