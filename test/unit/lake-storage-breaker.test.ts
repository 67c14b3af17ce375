import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConflictBreaker, WriterStoppedError } from '../../lake/storage/breaker.js';

describe('the dual-writer conflict breaker', () => {
  it('trips on the Nth conflict within the window, says so once, and refuses every later write', () => {
    const tripped: WriterStoppedError[] = [];
    const breaker = new ConflictBreaker('s3://lake/', { maxConflicts: 3, windowMs: 1000 }, (e) => tripped.push(e));
    breaker.conflict('a', 0);
    breaker.conflict('b', 500);
    assert.equal(breaker.tripped, false);
    assert.throws(
      () => breaker.conflict('c', 900),
      (error: unknown) => error instanceof WriterStoppedError && error.code === 'STORAGE_WRITER_STOPPED',
    );
    assert.equal(tripped.length, 1);
    assert.equal(tripped[0]!.context.conflicts, 3);
    assert.throws(() => breaker.check('d'), WriterStoppedError);
  });

  it('forgets conflicts older than the window: a slow trickle never trips it', () => {
    const breaker = new ConflictBreaker('s3://lake/', { maxConflicts: 3, windowMs: 1000 });
    for (let second = 0; second < 100; second++) breaker.conflict(`k${second}`, second * 600);
    assert.equal(breaker.tripped, false);
    breaker.check('still writing');
  });
});
