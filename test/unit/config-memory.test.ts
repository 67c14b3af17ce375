import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../core/errors/index.js';
import { memoryBudget, MIB, parseConfig } from '../../core/config/index.js';

const parse = (extra: string) =>
  parseConfig(`source:\n  postgres:\n    url: postgresql://cdc@db/app\n${extra}`, { env: {}, baseDir: '/srv' });

describe('memory.limit_mb', () => {
  it('derives flush.max_bytes unless it is given', () => {
    assert.equal(parse('').flush.max_bytes, 64 * MIB);
    assert.equal(parse('memory:\n  limit_mb: 1024\n').flush.max_bytes, 128 * MIB);
    assert.equal(parse('memory:\n  limit_mb: 1024\nflush:\n  max_bytes: 1000\n').flush.max_bytes, 1000);
  });

  it('refuses a limit a stream worker cannot fit in, and a bad flush.max_bytes', () => {
    for (const extra of ['memory:\n  limit_mb: 200\n', 'flush:\n  max_bytes: 0\n', 'flush:\n  max_bytes: 1.5\n']) {
      assert.throws(() => parse(extra), ConfigError, extra);
    }
    try {
      parse('memory:\n  limit_mb: 200\n');
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.issues[0]?.path, 'memory.limit_mb');
      assert.match(error.issues[0]?.message ?? '', />= 384/);
    }
  });

  it('gives each DuckDB a share of the limit, and the snapshot writers a floor per parallel worker', () => {
    const budget = memoryBudget(512, 4, 2);
    assert.deepEqual(budget.epochs, { memoryLimit: '128MB', memoryBytes: 128 * MIB, threads: 2 });
    assert.deepEqual(budget.compaction, { memoryLimit: '128MB', memoryBytes: 128 * MIB, threads: 1 });
    assert.equal(budget.snapshot.memoryLimit, '384MB');
    assert.equal(memoryBudget(2048, 4, 2).snapshot.memoryLimit, '1024MB');
    assert.equal(memoryBudget(512, 4, 16).epochs.threads, 4);
    // The DuckDB shares together stay within the limit, beside the ~250 MiB an idle stream worker takes.
    assert.ok(budget.epochs.memoryBytes + budget.compaction.memoryBytes + 250 * MIB <= budget.limitBytes);
  });
});
