/**
 * The registry's conflict retry: writers racing on one compare-and-swap entry all land, even when an attempt is
 * slower than the old fixed pause (the starvation seen with six writers on a loaded DynamoDB endpoint).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { conflictPauseMs, retryOnConflict } from '../../governance/conflict.js';

describe('conflict retry', () => {
  it('scales the pause window with the attempt time and the losses, capped at two seconds', () => {
    const top = () => 0.999_999;
    assert.ok(conflictPauseMs(1, 1, top) <= 10, 'fast registry, first loss: a few milliseconds');
    assert.ok(conflictPauseMs(1, 100, top) > 150, 'a slow attempt widens the window');
    assert.ok(conflictPauseMs(3, 100, top) > conflictPauseMs(1, 100, top), 'losses widen it');
    assert.ok(conflictPauseMs(20, 10_000, top) <= 2_000, 'never more than the cap');
    assert.equal(
      conflictPauseMs(5, 100, () => 0),
      0,
      'full jitter starts at zero',
    );
  });

  it('lets every one of eight writers land on one entry whose read-modify-write takes 40 ms', async () => {
    let version = 0;
    const landed: number[] = [];
    let attempts = 0;
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    await Promise.all(
      Array.from({ length: 8 }, (_, writer) =>
        retryOnConflict(`entry (writer ${writer})`, async () => {
          attempts++;
          const read = version;
          await sleep(40);
          if (version !== read) return undefined;
          version = read + 1;
          landed.push(writer);
          return version;
        }),
      ),
    );
    assert.equal(version, 8, 'one version per writer');
    assert.deepEqual([...landed].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.ok(attempts >= 8);
  });
});
