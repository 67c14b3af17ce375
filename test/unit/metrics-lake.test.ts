import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { processRegistry } from '../../core/metrics/index.js';
import { ConflictBreaker, WriterStoppedError } from '../../lake/storage/breaker.js';
import { StorageRequestError, S3ObjectStore } from '../../lake/storage/s3.js';
import { tempDir } from '../support/temp.js';

/** The value of one series of the process registry (0 when it has none yet). */
async function sample(name: string, labels: Record<string, string> = {}): Promise<number> {
  const family = await processRegistry.getSingleMetric(name)?.get();
  const found = family?.values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want));
  return found?.value ?? 0;
}

describe('the conflict breaker metrics', () => {
  it('count a trip, and the tripped breaker, once', async () => {
    const trips = await sample('pgcdc_cas_breaker_trips_total');
    const tripped = await sample('pgcdc_cas_breaker_tripped');
    const breaker = new ConflictBreaker('s3://lake/', { maxConflicts: 2, windowMs: 1000 });
    breaker.conflict('a', 0);
    assert.equal(await sample('pgcdc_cas_breaker_trips_total'), trips);
    assert.throws(() => breaker.conflict('b', 10), WriterStoppedError);
    assert.throws(() => breaker.check('c'), WriterStoppedError);
    assert.equal(await sample('pgcdc_cas_breaker_trips_total'), trips + 1);
    assert.equal(await sample('pgcdc_cas_breaker_tripped'), tripped + 1);
  });
});

describe('the S3 request error metric', () => {
  // An S3 endpoint that answers every request with `status`: what a failing region or a proxy in front of it does.
  let server: Server;
  let status = 503;
  let requests = 0;
  before(async () => {
    // The client signs every request: any credentials do for an endpoint that answers all alike.
    process.env.AWS_ACCESS_KEY_ID ??= 'test';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
    server = createServer((request, response) => {
      requests++;
      request.resume();
      const code = status === 403 ? 'AccessDenied' : status === 404 ? 'NoSuchKey' : 'SlowDown';
      response.writeHead(status, { 'content-type': 'application/xml' }).end(`<Error><Code>${code}</Code></Error>`);
    });
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  });
  after(() => server.close());

  const store = (): S3ObjectStore => {
    const { port } = server.address() as AddressInfo;
    return new S3ObjectStore({
      bucket: 'lake',
      prefix: 'warehouse',
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      maxAttempts: 2,
      stagingRoot: tempDir('s3-errors'),
    });
  };

  it('counts every failed attempt by operation and status class, retried ones included', async () => {
    status = 503;
    const before5xx = await sample('pgcdc_s3_request_errors_total', { op: 'put', status_class: '5xx' });
    requests = 0;
    const s3 = store();
    await assert.rejects(s3.put('a/b.json', '{}'), StorageRequestError);
    assert.equal(requests, 2);
    assert.equal(await sample('pgcdc_s3_request_errors_total', { op: 'put', status_class: '5xx' }), before5xx + 2);

    status = 403;
    const before4xx = await sample('pgcdc_s3_request_errors_total', { op: 'get', status_class: '4xx' });
    requests = 0;
    await assert.rejects(s3.get('a/b.json'), StorageRequestError);
    assert.equal(requests, 1);
    assert.equal(await sample('pgcdc_s3_request_errors_total', { op: 'get', status_class: '4xx' }), before4xx + 1);
    s3.destroy();
  });

  it('counts a request that got no answer as network', async () => {
    const closed = createServer();
    await new Promise<void>((listening) => closed.listen(0, '127.0.0.1', listening));
    const { port } = closed.address() as AddressInfo;
    await new Promise((done) => closed.close(done));
    const s3 = new S3ObjectStore({
      bucket: 'lake',
      prefix: '',
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      maxAttempts: 1,
      stagingRoot: tempDir('s3-errors'),
    });
    const before = await sample('pgcdc_s3_request_errors_total', { op: 'list', status_class: 'network' });
    await assert.rejects(s3.list('a/'), StorageRequestError);
    assert.equal(await sample('pgcdc_s3_request_errors_total', { op: 'list', status_class: 'network' }), before + 1);
    s3.destroy();
  });

  it('does not count a missing object as an error', async () => {
    status = 404;
    const s3 = store();
    const errors = async () =>
      (await processRegistry.getSingleMetric('pgcdc_s3_request_errors_total')?.get())?.values.reduce(
        (sum, v) => sum + v.value,
        0,
      ) ?? 0;
    const counted = await errors();
    assert.equal(await s3.get('missing.json'), undefined);
    assert.equal(await s3.exists('missing.json'), false);
    assert.equal(await errors(), counted);
    s3.destroy();
  });
});
