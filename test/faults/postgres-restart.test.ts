/**
 * Fault: PostgreSQL restarting (`pg_ctl restart -m fast`) under pgbench at a seeded moment: the walsender and every
 * session end, pgbench's run with them (the next one starts when the server answers). `pg-cdc start` reconnects
 * and resumes from the slot's confirmed position.
 */
import { describe, it } from 'node:test';
import { between } from './support/env.js';
import { missingTool, runFaultCase } from './support/fault-case.js';

const LOST = /replication connection lost; reconnecting/;

describe('fault: PostgreSQL restarting', { skip: missingTool() }, () => {
  it('the stream reconnects and nothing is lost or repeated', () =>
    runFaultCase({
      name: 'postgres-restart',
      loadSec: 20,
      async inject({ servers, processes, random, untilMs, elapsedSec, record }) {
        await untilMs(between(random, 4, 14));
        const at = elapsedSec();
        const before = processes.streamLogCount(LOST);
        await servers.restartPostgres();
        const restarted = elapsedSec() - at;
        await new Promise((resolve) => setTimeout(resolve, 5_000));
        const lost = processes.streamLogCount(LOST) - before;
        const response = await processes.ensureStreaming();
        record(
          'pg_ctl restart -m fast',
          at,
          `up again after ${restarted.toFixed(1)} s; ${lost} reconnect(s) logged; ${response}`,
        );
      },
    }));
});
