/**
 * The governed S3 configuration end to end through the CLI: the lake in a bucket, every table registered in AWS Glue
 * as an Iceberg table (`catalog.type: iceberg`), against moto. `init`, `start` and `compact` commit through Glue;
 * PyIceberg's own Glue catalog reads the tables as PostgreSQL has them; `catalog register` finds nothing to heal;
 * `teardown --purge-storage` unregisters them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { GetTablesCommand, GlueClient } from '@aws-sdk/client-glue';
import { runCli } from '../support/cli.js';
import { pythonOrSkip } from '../support/readers.js';
import { freshDatabase, motoEndpoint, uniqueName } from '../support/stack.js';
import { eventually, startStream, streamConfig, type RunningStream } from '../support/stream.js';

const moto = motoEndpoint();
const { python, skip: noPython } = pythonOrSkip();
const REGION = 'us-east-1';
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: REGION };
Object.assign(process.env, CREDENTIALS);

/** The rows of a Glue Iceberg table as PyIceberg's Glue catalog reads them, over moto's S3. */
function readThroughGlue(database: string, glueName: string): string[] {
  const script = `
import json, sys
from pyiceberg.catalog.glue import GlueCatalog
endpoint = sys.argv[1]
catalog = GlueCatalog('glue', **{'glue.endpoint': endpoint, 'glue.region': '${REGION}',
    'glue.access-key-id': 'testing', 'glue.secret-access-key': 'testing',
    's3.endpoint': endpoint, 's3.region': '${REGION}', 's3.access-key-id': 'testing',
    's3.secret-access-key': 'testing', 's3.force-virtual-addressing': 'false'})
table = catalog.load_table((sys.argv[2], sys.argv[3]))
rows = table.scan().to_arrow().to_pylist()
print(json.dumps([f"{r['id']}={r['qty']}:{r['note']}" for r in rows]))
`;
  const out = execFileSync(python!, ['-c', script, moto.endpoint!, database, glueName], { encoding: 'utf8' });
  return (JSON.parse(out) as string[]).sort();
}

describe('the lake on S3 with its tables in Glue, through the CLI', { skip: moto.skip }, () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let config: ReturnType<typeof streamConfig>;
  let stream: RunningStream | undefined;
  const bucket = uniqueName('gluelake').replace(/_/g, '-');
  const database = uniqueName('glue_lake_db');
  const cli = (...args: string[]) => runCli(['--config', config.path, ...args], CREDENTIALS);
  const sourceRows = async (): Promise<string[]> =>
    (await db.sql<{ r: string }>(`SELECT id::text || '=' || qty::text || ':' || note AS r FROM glue_ledger`))
      .map((row) => row.r)
      .sort();
  const glueTables = async (): Promise<string[]> => {
    const glue = new GlueClient({ region: REGION, endpoint: moto.endpoint! });
    try {
      const { TableList } = await glue.send(new GetTablesCommand({ DatabaseName: database }));
      return (TableList ?? []).map((t) => `${t.Name}:${t.Parameters?.table_type}`).sort();
    } finally {
      glue.destroy();
    }
  };

  before(async () => {
    const s3 = new S3Client({ endpoint: moto.endpoint!, region: REGION, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    s3.destroy();
    db = await freshDatabase('glue_lake');
    await db.sql(`
      CREATE TABLE glue_ledger (id bigint PRIMARY KEY, qty integer, note text);
      INSERT INTO glue_ledger SELECT g, g % 10, 'n' || g FROM generate_series(1, 500) g;
    `);
    config = streamConfig({
      url: db.url(),
      prefix: 'glue_lake',
      flushIntervalSec: 0.2,
      extra: [
        'storage:',
        '  type: s3',
        `  bucket: ${bucket}`,
        '  prefix: warehouse',
        `  endpoint: ${moto.endpoint}`,
        `  region: ${REGION}`,
        'catalog:',
        '  type: iceberg',
        `  database: ${database}`,
        `  region: ${REGION}`,
        `  endpoint: ${moto.endpoint}`,
        'tables:',
        '  include: ["public.glue_ledger"]',
        'compaction:',
        '  min_small_files: 2',
        '  schedule: 1h',
      ],
    });
  });

  after(async () => {
    await stream?.stop('SIGKILL');
    await cli('teardown', '--yes', '--purge-storage');
  });

  it(
    'snapshots, streams and compacts through Glue; PyIceberg reads the table through Glue as PostgreSQL has it',
    {
      skip: noPython,
    },
    async () => {
      const init = await cli('init');
      assert.equal(init.code, 0, init.stdout + init.stderr);
      // The changelog table is created by the first epoch.
      assert.deepEqual(await glueTables(), ['public__glue_ledger:ICEBERG']);
      stream = startStream(config.path, CREDENTIALS);
      await stream.waitForLog(/"msg":"streaming"/);
      for (let i = 0; i < 4; i++) {
        await db.sql(`UPDATE glue_ledger SET qty = qty + 1, note = 'u${i}' WHERE id % 4 = ${i}`);
        await db.sql(`DELETE FROM glue_ledger WHERE id = ${10 + i}`);
      }
      await eventually(async () =>
        JSON.stringify(readThroughGlue(database, 'public__glue_ledger')) === JSON.stringify(await sourceRows())
          ? true
          : 'the Glue table lags the source',
      );
      assert.deepEqual(await glueTables(), ['public__glue_ledger:ICEBERG', 'public__glue_ledger__changes:ICEBERG']);
      const compact = await cli('compact', '--table', 'public.glue_ledger', '--force', '--json');
      assert.equal(compact.code, 0, compact.stdout + compact.stderr);
      await db.sql(`UPDATE glue_ledger SET note = 'after' WHERE id = 1`);
      await eventually(async () =>
        JSON.stringify(readThroughGlue(database, 'public__glue_ledger')) === JSON.stringify(await sourceRows())
          ? true
          : 'the Glue table lags the source after compaction',
      );
      const register = await cli('catalog', 'register', '--json');
      assert.equal(register.code, 0, register.stdout + register.stderr);
    },
  );

  it('teardown --purge-storage unregisters the tables from Glue', async () => {
    await stream?.stop('SIGTERM');
    stream = undefined;
    const teardown = await cli('teardown', '--yes', '--purge-storage');
    assert.equal(teardown.code, 0, teardown.stdout + teardown.stderr);
    assert.deepEqual(await glueTables(), []);
  });
});
