import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { parseLsn } from '../../core/lsn/index.js';
import { readSlotPosition } from '../../source/slot-position.js';
import { findPostgresBinaries } from '../../stack/postgres-binaries.js';
import { startPostgres, type RunningPostgres } from '../../stack/postgres.js';
import { tempDir } from '../support/stack.js';

/** Runs `fn` with a client of `cluster`'s postgres database. */
async function withClient<T>(cluster: RunningPostgres, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: cluster.url() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('the slot position, on a primary and on its standby', () => {
  let primary: RunningPostgres;
  let standby: RunningPostgres;

  before(async () => {
    primary = await startPostgres({ durable: false, walLevel: 'logical' });
    // A streaming standby of it: a base backup that writes standby.signal and primary_conninfo (-R).
    const parent = tempDir('pg-cdc-standby-');
    chmodSync(parent, 0o755); // the server runs as the postgres user when the tests run as root
    const dataDir = join(parent, 'data');
    execFileSync(
      join(findPostgresBinaries().binDir, 'pg_basebackup'),
      ['-d', primary.url(), '-D', dataDir, '-R', '-X', 'stream', '--no-sync'],
      { stdio: 'pipe' },
    );
    standby = await startPostgres({ dataDir, durable: false, walLevel: 'logical' });
  });

  after(async () => {
    await standby?.stop();
    await primary?.stop();
  });

  it('counts from the insert position on a primary', async () => {
    await primary.query(`SELECT pg_create_physical_replication_slot('position_primary', true)`);
    await primary.query(`CREATE TABLE filler AS SELECT g FROM generate_series(1, 20000) g`);
    const position = await withClient(primary, (client) => readSlotPosition(client, 'position_primary'));
    const current = (await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
    assert.ok(position.walEnd && parseLsn(position.walEnd) <= parseLsn(current), `${position.walEnd} > ${current}`);
    assert.equal(position.slot?.slotType, 'physical');
    assert.ok((position.slot?.retainedBytes ?? 0) > 100_000, `retained ${position.slot?.retainedBytes}`);
  });

  it('answers on a standby, where pg_current_wal_lsn() fails, from the WAL it received', async () => {
    await withClient(standby, async (client) => {
      const recovery = (await client.query<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby')).rows[0];
      assert.equal(recovery?.standby, true);
      await assert.rejects(client.query('SELECT pg_current_wal_lsn()'), /recovery is in progress/);
      await client.query(`SELECT pg_create_physical_replication_slot('position_standby', true)`);
    });
    await primary.query(`INSERT INTO filler SELECT g FROM generate_series(1, 20000) g`);
    const written = (await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
    // The standby's WAL end moves up to what the primary wrote, as it receives it.
    let position = await withClient(standby, (client) => readSlotPosition(client, 'position_standby'));
    for (let waited = 0; parseLsn(position.walEnd ?? '0/0') < parseLsn(written) && waited < 10_000; waited += 100) {
      await sleep(100);
      position = await withClient(standby, (client) => readSlotPosition(client, 'position_standby'));
    }
    assert.ok(parseLsn(position.walEnd ?? '0/0') >= parseLsn(written), `${position.walEnd} < ${written}`);
    assert.equal(position.slot?.slotType, 'physical');
    assert.equal(typeof position.slot?.retainedBytes, 'number');
    assert.ok((position.slot?.retainedBytes ?? -1) >= 0);
    const none = await withClient(standby, (client) => readSlotPosition(client, 'no_such_slot'));
    assert.equal(none.slot, undefined);
    assert.ok(none.walEnd);
  });
});
