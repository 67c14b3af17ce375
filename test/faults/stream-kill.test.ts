/**
 * Fault: SIGKILL of `pg-cdc start` (the stream worker and its in-process Temporal worker) twice under pgbench, at
 * seeded moments, each time started again at once. Nothing it had read but not committed may be lost: the slot was
 * never confirmed past it, and the sealed epochs in its spool are committed by the next process.
 */
import { describe, it } from 'node:test';
import { between } from './support/env.js';
import { missingTool, runFaultCase } from './support/fault-case.js';

describe('fault: SIGKILL of the stream process', { skip: missingTool() }, () => {
  it('restarted after each kill, it loses and repeats nothing', () =>
    runFaultCase({
      name: 'stream-kill',
      loadSec: 20,
      async inject({ processes, random, untilMs, elapsedSec, record }) {
        for (const [from, to] of [
          [2, 8],
          [10, 17],
        ] as const) {
          await untilMs(between(random, from, to));
          const at = elapsedSec();
          await processes.killStream();
          await processes.startStream();
          record('SIGKILL pg-cdc start', at, `restarted, streaming after ${(elapsedSec() - at).toFixed(1)} s`);
        }
      },
    }));
});
