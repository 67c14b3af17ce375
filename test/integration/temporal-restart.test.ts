import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Connection, Client } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../../core/temporal/index.js';
import { startTemporalDevServer } from '../../stack/temporal.js';
import { tempDir, uniqueName } from '../support/stack.js';

describe('the embedded Temporal dev server', () => {
  it('keeps workflow history across a restart and registers the search attributes', async () => {
    const stateDir = join(tempDir(), 'temporal');
    const workflowId = uniqueName('survivor');

    const first = await startTemporalDevServer({ stateDir, ui: false });
    try {
      const connection = await Connection.connect({ address: first.address });
      const client = new Client({ connection });
      const attributes = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
      assert.deepEqual(Object.keys(attributes.customAttributes ?? {}).sort(), Object.keys(SEARCH_ATTRIBUTES).sort());
      // No worker polls this queue: the execution stays running, which is what must survive.
      await client.workflow.start('preflightWorkflow', { workflowId, taskQueue: uniqueName('nobody') });
      await connection.close();
    } finally {
      await first.stop();
    }

    const second = await startTemporalDevServer({ stateDir, ui: false });
    try {
      assert.equal(second.reused, false);
      assert.equal(second.address, first.address, 'a restart binds the same port again');
      const connection = await Connection.connect({ address: second.address });
      const description = await new Client({ connection }).workflow.getHandle(workflowId).describe();
      assert.equal(description.status.name, 'RUNNING');
      assert.equal(description.type, 'preflightWorkflow');
      await connection.close();
    } finally {
      await second.stop();
    }
  });

  it('is reused, not started twice, by a second command on the same state directory', async () => {
    const stateDir = join(tempDir(), 'temporal');
    const first = await startTemporalDevServer({ stateDir, ui: true, keepRunning: true });
    try {
      const second = await startTemporalDevServer({ stateDir, ui: true, keepRunning: true });
      assert.equal(second.reused, true);
      assert.equal(second.pid, first.pid);
      assert.equal((await fetch(second.uiUrl!)).status, 200, 'the UI answers on its port');
    } finally {
      const { stopDevServer } = await import('../../stack/temporal.js');
      assert.equal(await stopDevServer(stateDir), true);
    }
  });
});
