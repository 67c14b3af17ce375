import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import { startPostgres, stopPostgresAt } from '../../stack/postgres.js';

describe('an embedded cluster kept running between commands', () => {
  it('is removed with its temporary directory once stopped, as `demo` stops it', async () => {
    const cluster = await startPostgres({ durable: false, keepRunning: true });
    const directory = dirname(cluster.dataDir);
    try {
      assert.equal((await cluster.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one, 1);
      assert.equal(await stopPostgresAt(cluster.dataDir), true);
      assert.equal(existsSync(directory), false, `${directory} is left behind`);
    } finally {
      await stopPostgresAt(cluster.dataDir).catch(() => undefined);
    }
  });
});
