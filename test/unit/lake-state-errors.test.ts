/**
 * An epoch that DuckDB cannot fit in its memory limit is retried, not failed for good: the classification rests on
 * DuckDB's own message, checked here against a real DuckDB run out of memory.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRetryableCode } from '../../core/errors/index.js';
import { EpochOutOfMemoryError, isDuckDBOutOfMemory } from '../../lake/state/errors.js';
import { openDuckDB } from '../../lake/parquet/writer.js';

describe('epoch errors', () => {
  it("recognises DuckDB's out-of-memory error and classes it retryable", async () => {
    const duck = await openDuckDB({ memoryLimit: '8MB', threads: 1 });
    let caught: unknown;
    try {
      await duck.connection.run("SELECT length(string_agg(repeat('x', 1000), ',')) FROM range(100000)");
    } catch (error) {
      caught = error;
    } finally {
      duck.close();
    }
    assert.ok(caught instanceof Error, 'the query ran out of memory');
    assert.equal(isDuckDBOutOfMemory(caught), true, caught.message);
    assert.equal(isDuckDBOutOfMemory(new Error('Conversion Error: could not convert')), false);
    const error = new EpochOutOfMemoryError('public.orders', 7, caught);
    assert.equal(error.code, 'EPOCH_OUT_OF_MEMORY');
    assert.equal(isRetryableCode(error.code), true);
  });
});
