import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { progressQuery } from '../../workflows/snapshot-messages.js';
import type { snapshotWorkflow } from '../../workflows/snapshot.js';
import { PG_CDC_BIN } from '../support/cli.js';
import { pythonOrSkip, scanWithPyIceberg } from '../support/readers.js';
import { freshDatabase, sharedTemporal, tempDir, uniqueName, writeConfig } from '../support/stack.js';

const startWorker = (config: string): ChildProcess =>
  spawn(process.execPath, [PG_CDC_BIN, '--config', config, 'worker'], {
    env: { ...process.env, PGCDC_LOG_LEVEL: 'error' },
    stdio: 'ignore',
  });

describe('a worker killed in the middle of the snapshot', () => {
  const temporal = sharedTemporal();
  const { python, skip: noPython } = pythonOrSkip();

  it(
    'still ends with a complete, duplicate-free snapshot after another worker takes over',
    { skip: noPython, timeout: 240_000 },
    async () => {
      const db = await freshDatabase('crash');
      await db.sql(`
      CREATE TABLE big (id int PRIMARY KEY, body text);
      INSERT INTO big SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 150000) AS g;
      ANALYZE;`);
      const stateDir = tempDir('pg-cdc-crash-');
      const slot = uniqueName('slot');
      const taskQueue = uniqueName('crash');
      const config = writeConfig(
        [
          `state_dir: ${stateDir}`,
          `source:\n  postgres:\n    url: ${db.url()}`,
          `replication:\n  slot: ${slot}\n  publication: ${uniqueName('pub')}`,
          'init:\n  parallel_workers: 1\n  chunk_target_bytes: 1048576',
          `temporal:\n  address: ${temporal.address}\n  task_queue: ${taskQueue}`,
        ].join('\n'),
      );
      const connection = await Connection.connect({ address: temporal.address });
      const client = new Client({ connection, namespace: temporal.namespace });
      const first = startWorker(config);
      let second: ChildProcess | undefined;
      try {
        const handle = await client.workflow.start<typeof snapshotWorkflow>('snapshotWorkflow', {
          workflowId: `snapshot:${slot}`,
          taskQueue,
          args: [{ slot, hostTaskQueue: `${taskQueue}@${hostname()}`, parallelWorkers: 1 }],
        });
        // Let a few chunks land, then kill the worker without a chance to clean up.
        for (let i = 0; ; i++) {
          const progress = await handle.query(progressQuery).catch(() => undefined);
          if ((progress?.tables[0]?.chunksDone ?? 0) >= 3) break;
          assert.ok(i < 600, 'the snapshot never started copying');
          await sleep(100);
        }
        first.kill('SIGKILL');
        second = startWorker(config);
        const result = await handle.result();

        assert.equal(result.attempt, 2, 'the lost export made the workflow start over once');
        assert.deepEqual(
          result.tables.map((t) => [t.table, t.rows]),
          [['public.big', 150000]],
        );
        const latest = await client.workflow.getHandle(`snapshot:${slot}`).fetchHistory();
        const started = latest.events?.[0]?.workflowExecutionStartedEventAttributes;
        assert.ok(started?.continuedExecutionRunId, 'the second attempt continues the first run');
        const input = started?.input?.payloads?.[0]?.data;
        assert.match(
          Buffer.from(input ?? []).toString(),
          /"restartReason":"[^"]+"/,
          'the new run says why it started over',
        );

        const manifest = JSON.parse(readFileSync(join(stateDir, 'lake', 'manifest.json'), 'utf8')) as {
          tables: Record<string, { state: { metadata_location: string } }>;
          source: { consistent_point_lsn: string };
        };
        const ids = scanWithPyIceberg(python!, manifest.tables['public.big']!.state.metadata_location).rows.map((r) =>
          Number(r.id),
        );
        assert.equal(ids.length, 150000);
        assert.equal(new Set(ids).size, 150000, 'no row twice');
        const files = readdirSync(join(stateDir, 'lake', 'public', 'big', 'data'));
        const lsn = manifest.source.consistent_point_lsn.replace('/', '-');
        assert.ok(
          files.every((f) => f.includes(lsn)),
          'files of the abandoned attempt were removed',
        );
        const [slots] = await db.sql<{ n: string }>(
          'SELECT count(*)::text AS n FROM pg_replication_slots WHERE slot_name = $1',
          [slot],
        );
        assert.equal(slots?.n, '1', 'exactly one slot remains: the one the base belongs to');
      } finally {
        first.kill('SIGKILL');
        second?.kill('SIGTERM');
        await connection.close();
        await db
          .sql(
            'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active',
            [slot],
          )
          .catch(() => undefined);
      }
    },
  );
});
