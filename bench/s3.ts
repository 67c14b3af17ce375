/**
 * The lake on S3 for the benchmarks (BENCH_STORAGE=s3): a moto server of its own, a bucket, and a proxy in front of
 * it that counts the requests by HTTP method, everything pg-cdc sends (its own client and DuckDB's httpfs) included.
 */
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { startMoto } from '../stack/moto.js';

export interface BenchS3 {
  /** The `storage:` block of pg-cdc.yml. */
  readonly storageYaml: string;
  /** Credentials for the default provider chain of the pg-cdc processes. */
  readonly env: Record<string, string>;
  /** Requests so far by method (PUT: objects and parts; POST: multipart create and complete). */
  requests(): Record<string, number>;
  stop(): Promise<void>;
}

export const benchStorage = (): 'filesystem' | 's3' => (process.env.BENCH_STORAGE === 's3' ? 's3' : 'filesystem');

export async function startBenchS3(bucket = 'bench'): Promise<BenchS3> {
  const moto = await startMoto();
  const upstream = new URL(moto.endpoint);
  const counts: Record<string, number> = {};
  const proxy = createServer((req, res) => {
    counts[req.method ?? '?'] = (counts[req.method ?? '?'] ?? 0) + 1;
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
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const env = {
    AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey,
    AWS_REGION: moto.region,
  };
  const s3 = new S3Client({
    endpoint: moto.endpoint,
    region: moto.region,
    forcePathStyle: true,
    credentials: moto.credentials,
  });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  s3.destroy();
  return {
    storageYaml: `storage:\n  type: s3\n  bucket: ${bucket}\n  prefix: lake\n  endpoint: ${endpoint}\n  region: ${moto.region}`,
    env,
    requests: () => ({ ...counts }),
    async stop() {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await moto.stop();
    },
  };
}

/** `after - before` by method, as `PUT 12, GET 30`. */
export function describeRequests(before: Record<string, number>, after: Record<string, number>): string {
  return Object.keys(after)
    .sort()
    .map((method) => `${method} ${after[method]! - (before[method] ?? 0)}`)
    .join(', ');
}
