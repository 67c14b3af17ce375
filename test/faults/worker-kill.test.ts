/**
 * Fault: SIGKILL of a separate `pg-cdc worker` beside `pg-cdc start`, twice under pgbench at seeded moments, each
 * time started again after a few seconds. The worker polls the same task queues as the worker inside `start` (the
 * shared one and this host's), so it holds table actors' workflow tasks and epoch commits when it dies: Temporal
 * times them out and hands them to the survivor. `pg-cdc start` itself keeps running.
 */
import { describe, it } from 'node:test';
import { between } from './support/env.js';
import { missingTool, runFaultCase } from './support/fault-case.js';

describe('fault: SIGKILL of the worker process', { skip: missingTool() }, () => {
  it('the other worker takes its tasks over, and nothing is lost or repeated', () =>
    runFaultCase({
      name: 'worker-kill',
      loadSec: 20,
      worker: true,
      async inject({ processes, random, untilMs, elapsedSec, record }) {
        for (const [from, to] of [
          [2, 7],
          [10, 15],
        ] as const) {
          await untilMs(between(random, from, to));
          const at = elapsedSec();
          await processes.killWorker();
          await new Promise((resolve) => setTimeout(resolve, between(random, 1, 3)));
          await processes.startWorker();
          const stream = processes.streamExit();
          record(
            'SIGKILL pg-cdc worker',
            at,
            `worker restarted after ${(elapsedSec() - at).toFixed(1)} s; ${stream ? `pg-cdc start ${stream}` : 'pg-cdc start rode it out'}`,
          );
        }
      },
    }));
});
