/**
 * The fault suite's checks (test/faults/support) fail when they should: a slot confirmed past a transaction the
 * lake lacks, rows lost or duplicated, a schedule that changes with the seed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ackViolations, type AckSample } from '../faults/support/ack-watch.js';
import { caseRandom, FAULT_ENV } from '../faults/support/env.js';
import { difference } from '../faults/support/load.js';

const sample = (confirmed: bigint, committed: bigint): AckSample => ({
  atMs: 1000,
  confirmed,
  committed: new Map([['public.t', committed]]),
});

describe('the acknowledgement check', () => {
  const commits = new Map([['public.t', [100n, 200n, 300n]]]);

  it('passes a slot confirmed up to the oldest commit the lake lacks, and no further', () => {
    assert.deepEqual(ackViolations([sample(300n, 200n), sample(201n, 200n), sample(50n, 0n)], commits), []);
  });

  it('fails a slot confirmed past a commit the lake lacks', () => {
    const found = ackViolations([sample(301n, 200n)], commits);
    assert.equal(found.length, 1);
    assert.match(found[0]!, /public\.t held only up to 0\/C8, without the transaction committed at 0\/12C/);
  });
});

describe('the row comparison', () => {
  it('counts lost and duplicated rows apart', () => {
    assert.deepEqual(difference(['a', 'b', 'b', 'c'], ['a', 'b', 'c']), { lost: 1, extra: 0 });
    assert.deepEqual(difference(['a', 'b'], ['a', 'a', 'b', 'z']), { lost: 0, extra: 2 });
    assert.deepEqual(difference(['a', 'b'], ['b', 'a']), { lost: 0, extra: 0 });
  });
});

describe('the seeded schedule', () => {
  it('is the same for one seed and case, and differs between cases and seeds', () => {
    const draw = (seed: number, name: string): number[] => {
      process.env[FAULT_ENV.seed] = String(seed);
      const random = caseRandom(name);
      return [random(), random(), random()];
    };
    assert.deepEqual(draw(7, 'a'), draw(7, 'a'));
    assert.notDeepEqual(draw(7, 'a'), draw(7, 'b'));
    assert.notDeepEqual(draw(7, 'a'), draw(8, 'a'));
  });
});
