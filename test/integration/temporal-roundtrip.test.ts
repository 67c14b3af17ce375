import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import type { NativeConnection, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities } from '../../activities/index.js';
import { parseConfig } from '../../core/config/index.js';
import { silentLogger } from '../../core/log/index.js';
import { requireTemporalCli } from '../../stack/temporal-cli.js';
import { connectWorker } from '../../workers/connection.js';
import { bundleWorkflows, createWorker } from '../../workers/worker.js';
import type { preflightWorkflow } from '../../workflows/index.js';
import { freshDatabase, sharedTemporal, uniqueName } from '../support/stack.js';

describe('a workflow round-trip through the Temporal server the stack started', () => {
  const temporal = sharedTemporal();
  let client: Client;
  let nativeConnection: NativeConnection;
  let bundle: WorkflowBundleWithSourceMap;

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
  });

  after(async () => {
    await client?.connection.close();
    await nativeConnection?.close();
  });

  it('runs the preflight activity in a worker and records it in the workflow history', async () => {
    const db = await freshDatabase('roundtrip');
    await db.sql('CREATE TABLE widgets (id int PRIMARY KEY, name text)');
    const config = parseConfig(`source:\n  postgres:\n    url: ${db.url()}\n`);
    const taskQueue = uniqueName('roundtrip');
    const workflowId = `preflight:${taskQueue}`;
    const worker = await createWorker({
      connection: nativeConnection,
      namespace: temporal.namespace,
      taskQueue,
      activities: createActivities({ config, sourceUrl: db.url(), log: silentLogger }),
      log: silentLogger,
      workflowBundle: bundle,
    });

    const report = await worker.runUntil(
      client.workflow.execute<typeof preflightWorkflow>('preflightWorkflow', { workflowId, taskQueue }),
    );
    assert.equal(report.ready, true);
    assert.ok(report.checks.some((check) => check.id === 'wal-level' && check.status === 'ok'));
    assert.ok(report.checks.some((check) => check.id === 'tables' && check.summary.includes('1 table')));

    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const scheduled = history.events?.filter((event) => event.activityTaskScheduledEventAttributes) ?? [];
    assert.deepEqual(
      scheduled.map((event) => event.activityTaskScheduledEventAttributes?.activityType?.name),
      ['preflight'],
    );
    assert.ok(history.events?.some((event) => event.activityTaskCompletedEventAttributes));
    assert.ok(history.events?.some((event) => event.workflowExecutionCompletedEventAttributes));

    // An independent client, the temporal CLI, sees the same execution and its activity.
    const shown = execFileSync(
      requireTemporalCli().path,
      [
        'workflow',
        'show',
        '--address',
        temporal.address,
        '--namespace',
        temporal.namespace,
        '-w',
        workflowId,
        '-o',
        'json',
      ],
      { encoding: 'utf8' },
    );
    assert.match(shown, /"activityType":\s*{\s*"name":\s*"preflight"/);
    assert.match(shown, /EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED/);
  });

  it('surfaces an unreachable source as a failed activity with a typed failure, not a hang', async () => {
    const config = parseConfig(
      `source:\n  postgres:\n    url: postgresql://nobody@127.0.0.1:1/none\n    connect_timeout_sec: 1\n`,
    );
    const taskQueue = uniqueName('unreachable');
    const workflowId = `preflight:${taskQueue}`;
    const worker = await createWorker({
      connection: nativeConnection,
      namespace: temporal.namespace,
      taskQueue,
      activities: createActivities({ config, sourceUrl: 'postgresql://nobody@127.0.0.1:1/none', log: silentLogger }),
      log: silentLogger,
      workflowBundle: bundle,
    });
    const handle = await client.workflow.start<typeof preflightWorkflow>('preflightWorkflow', {
      workflowId,
      taskQueue,
    });
    await worker.runUntil(async () => {
      // The activity retries (a refused connection may be passing); wait for the first failed attempt to show.
      for (let i = 0; i < 100; i++) {
        const pending = (await handle.describe()).raw.pendingActivities?.[0];
        if (pending?.lastFailure) {
          assert.equal(pending.lastFailure.applicationFailureInfo?.type, 'SOURCE_UNREACHABLE');
          assert.match(pending.lastFailure.message ?? '', /127\.0\.0\.1/);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.fail('the activity failure never showed in the workflow description');
    });
    await handle.terminate('test done');
  });
});
