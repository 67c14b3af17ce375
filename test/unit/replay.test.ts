/**
 * The recorded histories (test/replay/histories, listed in test/replay/histories.ts) replayed against the
 * workflows of this checkout, with no server: a workflow change that would break a running execution (a command
 * added, removed or reordered without a patched() marker) fails here. Each history must hold exactly the markers
 * its entry names, so the old side of every patched() branch stays covered. Re-record with
 * `npm run record:histories` (docs/development.md) when a workflow changes on purpose.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { Worker, type ReplayResult } from '@temporalio/worker';
import { bundleWorkflows } from '../../workers/worker.js';
import { HISTORIES_DIR, patchesIn, readHistoryJson, RECORDED_HISTORIES } from '../replay/histories.js';
import { historyFromJson } from '../replay/proto-json.js';

interface HistoryJson {
  events?: Array<Record<string, unknown>>;
}

describe('recorded workflow histories replay against the current workflow code', () => {
  const results = new Map<string, ReplayResult>();

  before(async () => {
    const workflowBundle = await bundleWorkflows();
    const histories = RECORDED_HISTORIES.map(({ file }) => ({
      workflowId: file,
      history: historyFromJson(readHistoryJson(file)),
    }));
    for await (const result of Worker.runReplayHistories({ workflowBundle, replayName: 'pg-cdc-replay' }, histories)) {
      results.set(result.workflowId, result);
    }
  });

  it('lists every history file there is', () => {
    assert.deepEqual(
      readdirSync(HISTORIES_DIR)
        .filter((f) => f.endsWith('.json'))
        .sort(),
      RECORDED_HISTORIES.map((h) => h.file).sort(),
    );
  });

  for (const recorded of RECORDED_HISTORIES) {
    it(`${recorded.file}: ${recorded.why}`, () => {
      const json = readHistoryJson(recorded.file) as HistoryJson;
      const started = json.events?.[0]?.workflowExecutionStartedEventAttributes as
        { workflowType?: { name?: string } } | undefined;
      assert.equal(started?.workflowType?.name, recorded.workflowType);
      assert.deepEqual(patchesIn(json).sort(), [...recorded.patches].sort(), 'the patch markers it holds');
      const result = results.get(recorded.file);
      assert.ok(result, 'replayed');
      assert.equal(result.error, undefined, `replay failed: ${String(result.error)}`);
    });
  }
});
