/**
 * The stream's limits: a one-million-row transaction goes through the spool on disk, not memory (and, on
 * PostgreSQL 14+, arrives streamed in blocks before it commits); an idle source keeps its slot advancing through
 * heartbeat messages; a lost connection is re-established; a start whose Temporal cannot be reached (replication
 * begins before Temporal is up) ends with that reason and acknowledges nothing.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../stack/ports.js';
import { runCli } from '../support/cli.js';
import { freshDatabase } from '../support/stack.js';
import { eventually, lakeRows, startStream, streamConfig, type RunningStream } from '../support/stream.js';

type Db = Awaited<ReturnType<typeof freshDatabase>>;

/** Resident set size of a process, in bytes (Linux). */
function rss(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

// Node (about 300 MiB while reading at full speed), DuckDB (memory_limit 128 MB by default, plus what it does not track) and the
// million locator entries of the epoch: well under what holding the transaction in memory would take.
const MEMORY_BOUND = 1024 * 1024 * 1024;

describe('pg-cdc start at the edges', () => {
  let db: Db;
  let config: ReturnType<typeof streamConfig>;
  let stream: RunningStream | undefined;
  const cli = (...args: string[]) => runCli(['--config', config.path, ...args]);

  before(async () => {
    db = await freshDatabase('edges');
    await db.sql(`CREATE TABLE big (id bigint PRIMARY KEY, payload text NOT NULL, n int)`);
    await db.sql(`INSERT INTO big VALUES (0, 'seed', 0)`);
    config = streamConfig({
      url: db.url(),
      prefix: 'edges',
      heartbeatSec: 1,
      extra: ['spool:', '  max_bytes: 67108864'],
    });
    const init = await cli('init');
    assert.equal(init.code, 0, init.stdout + init.stderr);
    stream = startStream(config.path);
    await stream.waitForLog(/"msg":"streaming"/);
  });

  after(async () => {
    await stream?.stop('SIGKILL');
    await cli('teardown', '--yes');
  });

  it('streams a one-million-row transaction within the memory bound', async () => {
    const pid = stream!.child.pid!;
    let peak = rss(pid);
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, rss(pid));
      } catch {
        // the process may be gone; the assertions below say so
      }
    }, 100);
    try {
      await db.sql(`INSERT INTO big SELECT g, repeat(md5(g::text), 3), g % 1000 FROM generate_series(1, 1000000) g`);
      await eventually(async () => {
        const [row] = await lakeRows(config.lake, 'public.big', 'count(*) AS n, sum(d.n) AS s');
        return Number(row?.n) === 1_000_001 || `lake has ${String(row?.n)} rows`;
      }, 300_000);
    } finally {
      clearInterval(sampler);
    }
    assert.ok(peak < MEMORY_BOUND, `peak RSS ${Math.round(peak / 2 ** 20)} MiB >= ${MEMORY_BOUND / 2 ** 20} MiB`);
    const [sum] = await db.sql<{ s: string }>(`SELECT sum(n)::text AS s FROM big`);
    const [lake] = await lakeRows(config.lake, 'public.big', 'sum(d.n)::VARCHAR AS s');
    assert.equal(lake?.s, sum?.s);
  });

  it('keeps an idle slot advancing with heartbeat messages', async () => {
    const slotLsn = async (): Promise<string> =>
      (
        await db.sql<{ lsn: string }>(
          `SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1`,
          [config.slot],
        )
      )[0]!.lsn;
    // WAL written elsewhere on the server (another database) is what an idle slot must not hold back.
    const other = await freshDatabase('edges_other');
    await other.sql(`CREATE TABLE noise AS SELECT g FROM generate_series(1, 50000) g`);
    const written = (await other.sql<{ lsn: string }>(`SELECT pg_current_wal_lsn()::text AS lsn`))[0]!.lsn;
    await eventually(async () => {
      const confirmed = await slotLsn();
      const [cmp] = await db.sql<{ ahead: boolean }>(`SELECT $1::pg_lsn >= $2::pg_lsn AS ahead`, [confirmed, written]);
      return cmp!.ahead || `slot confirmed ${confirmed}, WAL written up to ${written}`;
    }, 30_000);
    const status = JSON.parse(readFileSync(`${config.stateDir}/stream-status.json`, 'utf8')) as { heartbeats: number };
    assert.ok(status.heartbeats > 0, 'heartbeats were emitted');
  });

  it('reconnects when its walsender is terminated', async () => {
    await db.sql(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1`, [
      config.slot,
    ]);
    await stream!.waitForLog(/replication connection lost; reconnecting/, 30_000);
    await db.sql(`INSERT INTO big VALUES (2000000, 'after reconnect', 7)`);
    await eventually(async () => {
      const rows = await lakeRows(config.lake, 'public.big', 'd.payload');
      return rows.some((r) => r.payload === 'after reconnect') || 'not yet';
    }, 60_000);
    assert.equal(await stream!.stop('SIGTERM'), 0);
    stream = undefined;
  });

  it('ends a start whose Temporal cannot be reached with the reason, acknowledging nothing', async () => {
    await db.sql(`INSERT INTO big VALUES (3000000, 'while Temporal is away', 8)`);
    const afterInsert = (await db.sql<{ lsn: string }>(`SELECT pg_current_wal_insert_lsn()::text AS lsn`))[0]!.lsn;
    const unreachable = config.path.replace(/\.yml$/, '.unreachable.yml');
    const closedPort = await freePort();
    writeFileSync(
      unreachable,
      readFileSync(config.path, 'utf8').replace(/^ {2}address: .*$/m, `  address: 127.0.0.1:${closedPort}`),
    );
    const failing = startStream(unreachable);
    const timer = setTimeout(() => failing.child.kill('SIGKILL'), 90_000);
    const code = await failing.exited.finally(() => clearTimeout(timer));
    assert.ok(code !== 0 && code !== 128, `exited ${code} on its own, not 0:\n${failing.logs()}`);
    assert.match(failing.logs(), /replication started/);
    assert.match(failing.logs(), /cannot reach Temporal at 127\.0\.0\.1:\d+/);
    // At most up to the insert's commit record: the server sends that transaction again to the next start. (With
    // asynchronous commit the record may not be written yet: the insert position is past it, the write one not.)
    const [slot] = await db.sql<{ kept: boolean; lsn: string }>(
      `SELECT confirmed_flush_lsn < $2::pg_lsn AS kept, confirmed_flush_lsn::text AS lsn
         FROM pg_replication_slots WHERE slot_name = $1`,
      [config.slot, afterInsert],
    );
    assert.ok(
      slot!.kept,
      `slot confirmed ${slot!.lsn}, past the insert's transaction (ends ${afterInsert})\n${failing.logs()}`,
    );

    stream = startStream(config.path);
    await eventually(async () => {
      const rows = await lakeRows(config.lake, 'public.big', 'd.payload');
      return rows.some((r) => r.payload === 'while Temporal is away') || 'not yet';
    }, 60_000);
    assert.equal(await stream.stop('SIGTERM'), 0);
    stream = undefined;
  });
});
