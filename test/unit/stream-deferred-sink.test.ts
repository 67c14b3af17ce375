import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { silentLogger } from '../../core/log/index.js';
import type { EpochCommit } from '../../lake/state/types.js';
import { EpochCommitter, type EpochSink } from '../../stream/committer.js';
import { DeferredSink } from '../../stream/deferred-sink.js';
import type { TableRoute } from '../../stream/routes.js';
import type { SealedEpoch } from '../../stream/spool.js';

const route = { table: 'public.things' } as TableRoute;
const sealed = (epoch: number): SealedEpoch => ({ batch: { epoch } }) as SealedEpoch;
const committed = (epoch: number): EpochCommit => ({ epoch, changes: 1 }) as unknown as EpochCommit;

describe('DeferredSink', () => {
  it('holds a hand-over until the target is attached, then passes it on', async () => {
    const sink = new DeferredSink();
    const seen: number[] = [];
    let settled = false;
    const pending = sink.commit(route, sealed(4)).finally(() => (settled = true));
    await nextTurn();
    assert.equal(settled, false, 'nothing to hand over to yet');
    const target: EpochSink = {
      commit: (_route, epoch) => {
        seen.push(epoch.batch.epoch);
        return Promise.resolve(committed(epoch.batch.epoch));
      },
    };
    sink.attach(target);
    assert.deepEqual(await pending, committed(4));
    assert.deepEqual(await sink.commit(route, sealed(5)), committed(5));
    assert.deepEqual(seen, [4, 5]);
  });

  it('fails waiting and later hand-overs with the reason the target never came', async () => {
    const sink = new DeferredSink();
    const pending = sink.commit(route, sealed(1));
    const reason = new Error('cannot reach Temporal');
    sink.fail(reason);
    await assert.rejects(pending, reason);
    await assert.rejects(sink.commit(route, sealed(2)), reason);
  });

  it('attaches a target once it resolves, or fails with its reason (attachWhen)', async () => {
    const attached = new DeferredSink();
    const target: EpochSink = { commit: (_route, epoch) => Promise.resolve(committed(epoch.batch.epoch)) };
    const pending = attached.commit(route, sealed(7));
    await attached.attachWhen(Promise.resolve(target));
    assert.deepEqual(await pending, committed(7));

    const failed = new DeferredSink();
    const waiting = failed.commit(route, sealed(1));
    const reason = new Error('actors did not start');
    await assert.rejects(failed.attachWhen(Promise.reject(reason)), reason);
    await assert.rejects(waiting, reason);
  });

  it('is not an unhandled rejection when it fails with nothing waiting', async () => {
    const sink = new DeferredSink();
    sink.fail(new Error('never attached'));
    await nextTurn();
  });
});

describe('EpochCommitter once stopped', () => {
  it('leaves a failed epoch sealed instead of retrying it', async () => {
    let attempts = 0;
    const spool = {
      peekSealed: () => sealed(1),
      committed: () => assert.fail('a failed epoch is not marked committed'),
    };
    const failing: EpochSink = {
      commit: () => {
        attempts += 1;
        return Promise.reject(new Error('unreachable'));
      },
    };
    // A hand-over started before the stop: its failure ends it, with no retry timer left behind.
    const committer = new EpochCommitter(
      failing,
      silentLogger,
      () => assert.fail('nothing commits'),
      () => assert.fail('stopping is not a fatal error'),
      () => assert.fail('stopping fails no table'),
      60_000,
    );
    committer.pump([{ ...route, spool } as unknown as TableRoute]);
    committer.stop();
    await nextTurn();
    await nextTurn();
    assert.equal(attempts, 1);
    assert.equal(committer.busy, 0, 'the hand-over ended');
  });
});
