/**
 * Fault: Temporal unavailable for 60 s (`PGCDC_FAULT_TEMPORAL_OUTAGE_SEC` to shorten it locally): the server is
 * stopped at a seeded moment under pgbench and started again after the outage. Meanwhile epochs cannot commit;
 * `pg-cdc start` must ride it out (the spool holds them, the slot is not confirmed past them) or fail cleanly and
 * resume when started again, with nothing lost.
 */
import { describe, it } from 'node:test';
import { between, temporalOutageMs } from './support/env.js';
import { missingTool, runFaultCase } from './support/fault-case.js';

describe('fault: Temporal unavailable', { skip: missingTool() }, () => {
  it('after the outage the lake catches up with nothing lost or repeated', () =>
    runFaultCase({
      name: 'temporal-outage',
      loadSec: 20,
      async inject({ servers, processes, random, untilMs, elapsedSec, record }) {
        await untilMs(between(random, 3, 8));
        const at = elapsedSec();
        await servers.stopTemporal('SIGTERM');
        await new Promise((resolve) => setTimeout(resolve, temporalOutageMs()));
        const during = processes.streamExit();
        await servers.startTemporal();
        await new Promise((resolve) => setTimeout(resolve, 10_000));
        record(
          `Temporal stopped for ${(temporalOutageMs() / 1000).toFixed(0)} s`,
          at,
          during
            ? `${await processes.ensureStreaming()} (it ended during the outage)`
            : await processes.ensureStreaming(),
        );
      },
    }));
});
