/**
 * The lake on S3 (moto): `init`, `start`, `compact`, `status`, `query` and `teardown --purge-storage` against a
 * bucket, the tables equal to PostgreSQL through DuckDB (httpfs) and PyIceberg (s3 FileIO); the conditional PUT
 * that every versioned document rests on has exactly one winner; the conflict breaker trips on a storm; 5xx
 * answers from the store are retried with nothing lost; snapshot chunks run on a second worker process.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { isPgCdcError } from '../../core/errors/index.js';
import { processRegistry } from '../../core/metrics/index.js';
import { workflowIds } from '../../core/temporal/index.js';
import { openLake, type Lake, type LakeConfig } from '../../lake/open.js';
import { openDuckDB } from '../../lake/parquet/writer.js';
import { currentDataFiles } from '../../lake/reader.js';
import { liveRowsSql } from '../../lake/scan.js';
import { decodeUtf8 } from '../../lake/storage/index.js';
import { S3ObjectStore } from '../../lake/storage/s3.js';
import { PG_CDC_BIN, runCli } from '../support/cli.js';
import { mainCaughtUp } from '../support/main.js';
import { pythonOrSkip, scanWithPyIceberg } from '../support/readers.js';
import { freshDatabase, motoEndpoint, sharedTemporal, tempDir, uniqueName } from '../support/stack.js';
import { eventually, startStream, streamConfig, type RunningStream } from '../support/stream.js';

const moto = motoEndpoint();
const { python, skip: noPython } = pythonOrSkip();
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1' };
// The store in this process takes its credentials from the default provider chain, as in production.
Object.assign(process.env, CREDENTIALS);

const bucketName = (): string => uniqueName('s3lake').replace(/_/g, '-');

/** The sum of this process's series of a metric family whose labels include `labels`. */
async function metricSum(name: string, labels: Record<string, string> = {}): Promise<number> {
  const family = await processRegistry.getSingleMetric(name)?.get();
  return (family?.values ?? [])
    .filter((v) => Object.entries(labels).every(([key, want]) => v.labels[key] === want))
    .reduce((sum, v) => sum + v.value, 0);
}

async function createBucket(endpoint: string, bucket: string): Promise<void> {
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  s3.destroy();
}

const storeAt = (endpoint: string, bucket: string, breaker = { maxConflicts: 1000, windowMs: 60_000 }): S3ObjectStore =>
  new S3ObjectStore({
    bucket,
    prefix: 'lake',
    endpoint,
    forcePathStyle: true,
    maxAttempts: 5,
    breaker,
    stagingRoot: join(tempDir(), 'staging'),
  });

describe('the lake on S3', { skip: moto.skip }, () => {
  type Db = Awaited<ReturnType<typeof freshDatabase>>;
  let db: Db;
  let config: ReturnType<typeof streamConfig>;
  let lake: Lake;
  let stream: RunningStream | undefined;
  const bucket = bucketName();
  const cli = (...args: string[]) => runCli(['--config', config.path, ...args], CREDENTIALS);

  const sourceRows = async (): Promise<string[]> =>
    (await db.sql<{ r: string }>(`SELECT id::text || '=' || qty::text || ':' || note AS r FROM s3_ledger`))
      .map((row) => row.r)
      .sort();

  /** The live rows of the table through DuckDB over httpfs, sandboxed to the lake's prefix as the engine is. */
  async function lakeRows(): Promise<string[]> {
    const files = await currentDataFiles(lake.store, lake.catalog, 'public.s3_ledger');
    const sql = liveRowsSql(files, { select: `d.id::VARCHAR || '=' || d.qty::VARCHAR || ':' || d.note AS r` });
    if (!sql) return [];
    const duck = await openDuckDB({ threads: 1, store: lake.store, allowedDirectories: [lake.store.readRoot] });
    try {
      return (await duck.connection.runAndReadAll(sql))
        .getRowsJson()
        .map((row) => row[0] as string)
        .sort();
    } finally {
      duck.close();
    }
  }

  const lakeMatches = async (): Promise<true | string> => {
    const [want, got] = await Promise.all([sourceRows(), lakeRows()]);
    return JSON.stringify(want) === JSON.stringify(got)
      ? true
      : `lake has ${got.length} rows, PostgreSQL ${want.length}`;
  };

  before(async () => {
    await createBucket(moto.endpoint!, bucket);
    db = await freshDatabase('s3lake');
    await db.sql(`
      CREATE TABLE s3_ledger (id bigint PRIMARY KEY, qty integer, note text);
      INSERT INTO s3_ledger SELECT g, g % 100, 'n' || g FROM generate_series(1, 5000) g;
    `);
    config = streamConfig({
      url: db.url(),
      prefix: 's3lake',
      flushIntervalSec: 0.2,
      extra: [
        'storage:',
        '  type: s3',
        `  bucket: ${bucket}`,
        '  prefix: lake',
        `  endpoint: ${moto.endpoint}`,
        '  region: us-east-1',
        'tables:',
        '  include: ["public.s3_ledger"]',
        '  tags:',
        '    "public.*": { sensitivity: internal }',
        'compaction:',
        '  min_small_files: 2',
        '  schedule: 1h',
        'governance:',
        '  roles:',
        '    reader: { grant: "sensitivity = internal" }',
      ],
    });
    const lakeConfig: LakeConfig = {
      storage: {
        type: 's3',
        bucket,
        prefix: 'lake',
        endpoint: moto.endpoint!,
        region: 'us-east-1',
        force_path_style: true,
        max_attempts: 5,
        conflict_breaker: { max_conflicts: 10, window_sec: 60 },
      },
      catalog: { type: 'local' },
      state_dir: join(tempDir(), 'reader-state'),
    };
    lake = openLake(lakeConfig);
  });

  after(async () => {
    await stream?.stop('SIGKILL');
    await cli('teardown', '--yes');
  });

  it('init snapshots into the bucket, and the table equals the source through httpfs', async () => {
    const init = await cli('init');
    assert.equal(init.code, 0, init.stdout + init.stderr);
    assert.equal(await lakeMatches(), true);
    const keys = await lake.store.list('');
    assert.ok(
      keys.some((key) => key.startsWith('public/s3_ledger/data/snapshot-')),
      keys.join('\n'),
    );
    // Nothing of the lake stays on this machine: the staging directory is empty once the chunks are uploaded.
    const staging = join(config.stateDir, 'staging');
    const leftovers = readdirSync(staging, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    assert.deepEqual(
      leftovers.map((e) => e.name),
      [],
    );
    const register = await cli('acl', 'register');
    assert.equal(register.code, 0, register.stdout + register.stderr);
  });

  it('streams epochs onto S3, logging the requests each epoch made', async () => {
    stream = startStream(config.path, CREDENTIALS);
    await stream.waitForLog(/"msg":"streaming"/);
    for (let i = 0; i < 6; i++) {
      await db.sql(`UPDATE s3_ledger SET qty = qty + 1, note = 'u${i}' WHERE id % 6 = ${i}`);
      await db.sql(`DELETE FROM s3_ledger WHERE id = ${100 + i}`);
      await db.sql(`INSERT INTO s3_ledger VALUES (${10_000 + i}, ${i}, 'new')`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await eventually(lakeMatches);
    assert.match(stream.logs(), /"requests":\{[^}]*"put":\d+/, 'an epoch logs its S3 requests');
  });

  it('compacts on S3 while streaming; status and query read the bucket', async () => {
    const before = await currentDataFiles(lake.store, lake.catalog, 'public.s3_ledger');
    const compact = await cli('compact', '--table', 'public.s3_ledger', '--json');
    assert.equal(compact.code, 0, compact.stdout + compact.stderr);
    await db.sql(`UPDATE s3_ledger SET note = 'after' WHERE id = 7`);
    await eventually(lakeMatches);
    const afterFiles = await currentDataFiles(lake.store, lake.catalog, 'public.s3_ledger');
    assert.ok(
      afterFiles.dataFiles.length + afterFiles.deleteFiles.length < before.dataFiles.length + before.deleteFiles.length,
      `${before.dataFiles.length}+${before.deleteFiles.length} files before, ` +
        `${afterFiles.dataFiles.length}+${afterFiles.deleteFiles.length} after`,
    );

    await mainCaughtUp(lake, ['public.s3_ledger']);
    const status = await cli('status', '--json');
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.match(status.stdout, new RegExp(`s3://${bucket}/lake`));
    const query = await cli('query', '--role', 'reader', '-n', '10000', '-t', 'public.s3_ledger', '-f', 'json');
    assert.equal(query.code, 0, query.stderr);
    assert.equal((JSON.parse(query.stdout) as unknown[]).length, (await sourceRows()).length);
  });

  it('PyIceberg reads the table from the bucket as PostgreSQL has it', { skip: noPython }, async () => {
    await eventually(lakeMatches);
    await mainCaughtUp(lake, ['public.s3_ledger']);
    const { metadataKey } = await lake.catalog.loadTable('public.s3_ledger');
    const scan = scanWithPyIceberg(python!, lake.store.uri(metadataKey), {
      's3.endpoint': moto.endpoint!,
      's3.access-key-id': 'testing',
      's3.secret-access-key': 'testing',
      's3.region': 'us-east-1',
      's3.force-virtual-addressing': 'false',
    });
    const row = (r: Record<string, unknown>): string => `${String(r.id)}=${String(r.qty)}:${String(r.note)}`;
    assert.deepEqual(scan.rows.map(row).sort(), await sourceRows());
  });

  it('teardown --purge-storage empties the prefix and nothing else', async () => {
    await stream?.stop();
    stream = undefined;
    const neighbour = new S3Client({ endpoint: moto.endpoint!, region: 'us-east-1', forcePathStyle: true });
    await neighbour.send(new PutObjectCommand({ Bucket: bucket, Key: 'elsewhere/keep.txt', Body: 'not the lake' }));
    const purge = await cli('teardown', '--purge-storage', '--yes');
    assert.equal(purge.code, 0, purge.stdout + purge.stderr);
    const left = await neighbour.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'lake/' }));
    assert.equal(left.KeyCount ?? 0, 0, JSON.stringify(left.Contents?.map((c) => c.Key)));
    const kept = await neighbour.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'elsewhere/' }));
    assert.equal(kept.KeyCount, 1);
    neighbour.destroy();
  });
});

describe('conditional PUTs on S3', { skip: moto.skip }, () => {
  it('of two writers racing to create a version, exactly one wins each time', async () => {
    const bucket = bucketName();
    await createBucket(moto.endpoint!, bucket);
    const [a, b] = [storeAt(moto.endpoint!, bucket), storeAt(moto.endpoint!, bucket)];
    for (let version = 1; version <= 25; version++) {
      const key = `_catalog/v${version}.json`;
      const [wonA, wonB] = await Promise.all([a.putIfAbsent(key, `a${version}`), b.putIfAbsent(key, `b${version}`)]);
      assert.equal(Number(wonA) + Number(wonB), 1, `version ${version}: a ${wonA}, b ${wonB}`);
      assert.equal(decodeUtf8((await a.get(key))!), wonA ? `a${version}` : `b${version}`);
    }
    a.destroy();
    b.destroy();
  });

  it('the breaker trips on a storm of conflicts and stops that writer with a typed error', async () => {
    const bucket = bucketName();
    await createBucket(moto.endpoint!, bucket);
    const trips = await metricSum('pgcdc_cas_breaker_trips_total');
    const writer = storeAt(moto.endpoint!, bucket, { maxConflicts: 5, windowMs: 60_000 });
    await writer.put('taken', 'first');
    for (let i = 1; i < 5; i++) assert.equal(await writer.putIfAbsent('taken', `other ${i}`), false);
    await assert.rejects(
      () => writer.putIfAbsent('taken', 'the fifth'),
      (error: unknown) => isPgCdcError(error) && error.code === 'STORAGE_WRITER_STOPPED',
    );
    await assert.rejects(
      () => writer.put('anything-else', 'x'),
      (error: unknown) => isPgCdcError(error) && error.code === 'STORAGE_WRITER_STOPPED',
    );
    assert.equal(decodeUtf8((await writer.get('taken'))!), 'first');
    assert.equal(await metricSum('pgcdc_cas_breaker_trips_total'), trips + 1);
    writer.destroy();
  });
});

/** An HTTP proxy in front of moto that answers every `every`th request with a 500 instead of forwarding it. */
async function flakyProxy(
  target: string,
  every: number,
): Promise<{ endpoint: string; failed: () => number; close(): Promise<void> }> {
  const upstream = new URL(target);
  let count = 0;
  let failed = 0;
  const server: Server = createServer((req, res) => {
    count += 1;
    if (count % every === 0) {
      failed += 1;
      req.resume();
      req.once('end', () => {
        res.writeHead(500, { 'content-type': 'application/xml' });
        res.end('<Error><Code>InternalError</Code><Message>injected</Message></Error>');
      });
      return;
    }
    const forward = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.once('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    failed: () => failed,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('S3 5xx answers', { skip: moto.skip }, () => {
  it('are retried by the client with nothing lost: small objects, versions and multipart uploads', async () => {
    const bucket = bucketName();
    await createBucket(moto.endpoint!, bucket);
    const proxy = await flakyProxy(moto.endpoint!, 3);
    const store = storeAt(proxy.endpoint, bucket);
    const errors = await metricSum('pgcdc_s3_request_errors_total', { status_class: '5xx' });
    try {
      const bodies = new Map<string, string>();
      for (let i = 0; i < 20; i++) {
        const body = randomBytes(64).toString('hex');
        bodies.set(`objects/o${i}`, body);
        await store.put(`objects/o${i}`, body);
        assert.equal(await store.putIfAbsent(`versions/v${i}.json`, body), true, `version ${i}`);
      }
      const big = randomBytes(20 * 1024 * 1024);
      const staged = await store.stagingPath('data/big.parquet');
      writeFileSync(staged, big);
      await store.publishStaged('data/big.parquet', staged);

      for (const [key, body] of bodies) assert.equal(decodeUtf8((await store.get(key))!), body, key);
      for (let i = 0; i < 20; i++) {
        assert.equal(decodeUtf8((await store.get(`versions/v${i}.json`))!), bodies.get(`objects/o${i}`));
      }
      assert.ok(Buffer.from((await store.get('data/big.parquet'))!).equals(big), 'the multipart upload is whole');
      assert.ok(proxy.failed() >= 10, `the proxy failed ${proxy.failed()} requests`);
      // Every injected 500 is counted, though the client's retries cured each one.
      assert.equal(await metricSum('pgcdc_s3_request_errors_total', { status_class: '5xx' }), errors + proxy.failed());
      assert.ok(store.requestCounts().multipart >= 5, JSON.stringify(store.requestCounts()));
    } finally {
      store.destroy();
      await proxy.close();
    }
  });
});

describe('scale-out with the lake on S3', { skip: moto.skip }, () => {
  it('init copies snapshot chunks on a second worker process (its own state_dir) as well as its own', async () => {
    const bucket = bucketName();
    await createBucket(moto.endpoint!, bucket);
    const db = await freshDatabase('s3scale');
    await db.sql(`
      CREATE TABLE s3_scaled (id bigint PRIMARY KEY, pad text);
      INSERT INTO s3_scaled SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, 30000) g;
    `);
    const config = streamConfig({
      url: db.url(),
      prefix: 's3scale',
      extra: [
        'storage:',
        '  type: s3',
        `  bucket: ${bucket}`,
        '  prefix: lake',
        `  endpoint: ${moto.endpoint}`,
        'tables:',
        '  include: ["public.s3_scaled"]',
        'init:',
        '  parallel_workers: 4',
        '  chunk_target_bytes: 262144',
      ],
    });
    // The second worker: the same slot, task queue and lake, a state_dir of its own (as on another host).
    const otherStateDir = join(tempDir(), 'other-host');
    const otherConfig = join(tempDir(), 'pg-cdc.yml');
    writeFileSync(
      otherConfig,
      readFileSync(config.path, 'utf8').replace(/^state_dir: .*$/m, `state_dir: ${otherStateDir}`),
    );
    const worker = spawn(process.execPath, [PG_CDC_BIN, '--config', otherConfig, 'worker'], {
      env: { ...process.env, ...CREDENTIALS, PGCDC_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let workerLog = '';
    worker.stderr.on('data', (chunk: Buffer) => (workerLog += chunk.toString()));
    worker.stdout.on('data', (chunk: Buffer) => (workerLog += chunk.toString()));
    const cli = (...args: string[]) => runCli(['--config', config.path, ...args], CREDENTIALS);
    try {
      await eventually(
        () => Promise.resolve(/worker running/.test(workerLog) || `worker not up:\n${workerLog}`),
        60_000,
      );
      const init = await cli('init');
      assert.equal(init.code, 0, init.stdout + init.stderr);

      const temporal = sharedTemporal();
      const connection = await Connection.connect({ address: temporal.address });
      try {
        const client = new Client({ connection, namespace: temporal.namespace });
        const history = await client.workflow.getHandle(workflowIds.snapshot(config.slot)).fetchHistory();
        const events = history.events ?? [];
        const chunkScheduled = new Set(
          events
            .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'copyChunk')
            .map((e) => String(e.eventId)),
        );
        const identities = events
          .filter((e) => chunkScheduled.has(String(e.activityTaskStartedEventAttributes?.scheduledEventId ?? '')))
          .map((e) => e.activityTaskStartedEventAttributes?.identity ?? '');
        const workerIdentity = `${worker.pid}@`;
        assert.ok(chunkScheduled.size >= 4, `${chunkScheduled.size} chunks`);
        assert.ok(
          identities.some((id) => id.startsWith(workerIdentity)) &&
            identities.some((id) => !id.startsWith(workerIdentity)),
          `chunks started by: ${identities.join(', ')} (second worker ${workerIdentity}...)`,
        );
      } finally {
        await connection.close();
      }
      const lake = openLake({
        storage: {
          type: 's3',
          bucket,
          prefix: 'lake',
          endpoint: moto.endpoint!,
          force_path_style: true,
          max_attempts: 5,
          conflict_breaker: { max_conflicts: 10, window_sec: 60 },
        },
        catalog: { type: 'local' },
        state_dir: join(tempDir(), 'reader-state'),
      });
      const files = await currentDataFiles(lake.store, lake.catalog, 'public.s3_scaled');
      const sql = liveRowsSql(files, { select: 'count(*) AS n, count(DISTINCT d.id) AS ids' });
      const duck = await openDuckDB({ threads: 1, store: lake.store, allowedDirectories: [lake.store.readRoot] });
      try {
        const [row] = (await duck.connection.runAndReadAll(sql!)).getRowsJson();
        assert.deepEqual(row, ['30000', '30000']);
      } finally {
        duck.close();
      }
    } finally {
      worker.kill('SIGTERM');
      await cli('teardown', '--yes');
    }
  });
});
