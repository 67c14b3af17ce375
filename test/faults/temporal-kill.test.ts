/**
 * Fault: SIGKILL of the Temporal server (the dev server, history in SQLite) under pgbench at a seeded moment; it
 * is started again on its state after a few seconds, as a supervisor would. `pg-cdc start` must ride it out or
 * exit cleanly and resume when started again, with nothing lost.
 */
import { describe, it } from 'node:test';
import { between } from './support/env.js';
import { missingTool, runFaultCase } from './support/fault-case.js';

describe('fault: SIGKILL of the Temporal server', { skip: missingTool() }, () => {
  it('started again on its history, the stream resumes and nothing is lost or repeated', () =>
    runFaultCase({
      name: 'temporal-kill',
      loadSec: 20,
      async inject({ servers, processes, random, untilMs, elapsedSec, record }) {
        await untilMs(between(random, 3, 12));
        const at = elapsedSec();
        await servers.stopTemporal('SIGKILL');
        await new Promise((resolve) => setTimeout(resolve, between(random, 2, 6)));
        await servers.startTemporal();
        const down = elapsedSec() - at;
        // Give the stream the time a client needs to find the server again before judging it.
        await new Promise((resolve) => setTimeout(resolve, 10_000));
        record('SIGKILL temporal server', at, `down ${down.toFixed(1)} s; ${await processes.ensureStreaming()}`);
      },
    }));
});
