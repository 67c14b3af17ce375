/**
 * Fault: S3 answering 5xx and slowly. The lake is in a moto bucket that pg-cdc (`init` and `start`, its S3 client
 * and DuckDB's httpfs alike) reaches through a proxy answering a seeded 5% of requests 503 SlowDown or 500
 * InternalError and holding a seeded 20% of the others back for up to 1 s, from `init` to the end of the checks.
 * The checks read moto directly.
 */
import { describe, it } from 'node:test';
import { caseRandom } from './support/env.js';
import { missingTool, runFaultCase } from './support/fault-case.js';
import { s3Lake } from './support/lake-view.js';
import { startFaultyS3, type FaultyS3 } from './support/s3-proxy.js';
import { uniqueName } from '../support/stack.js';
import { motoServerPath } from '../../stack/moto.js';
import { skipLoudlyOrFail } from '../support/skip.js';

const NAME = 's3-errors';
const FAULTS = { errorRate: 0.05, delayRate: 0.2, maxDelayMs: 1_000 };

const skip =
  missingTool() || (motoServerPath() ? false : skipLoudlyOrFail('moto is not installed (run `npm run setup`)'));

describe('fault: S3 5xx errors and slow responses', { skip }, () => {
  it('every request is retried until it lands, and nothing is lost or repeated', () => {
    let proxy: FaultyS3 | undefined;
    return runFaultCase({
      name: NAME,
      loadSec: 15,
      // Every epoch is a few dozen requests, each of which may be delayed or retried: on S3, epochs are larger.
      flushIntervalSec: 5,
      moto: true,
      async lake(servers) {
        proxy = await startFaultyS3(servers.moto!.endpoint, caseRandom(`${NAME}:proxy`), FAULTS);
        return s3Lake(servers.moto!.endpoint, proxy.endpoint, uniqueName('faults').replace(/_/g, '-'));
      },
      async inject({ processes, untilMs, record }) {
        await untilMs(15_000);
        const { requests, errors, delayed } = proxy!.counts();
        record(
          `S3 proxy: ${errors} of ${requests} requests answered 503/500, ${delayed} delayed up to ${FAULTS.maxDelayMs / 1000} s`,
          0,
          await processes.ensureStreaming(),
        );
      },
      cleanup: async () => proxy?.close(),
    });
  });
});
