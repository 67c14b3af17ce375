import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../support/cli.js';
import { PGBENCH, PGBENCH_TABLES } from '../../support/pgbench.js';
import { pythonOrSkip, scanWithBothReaders, type BothReaders } from '../../support/readers.js';
import { skipLoudlyOrFail } from '../../support/skip.js';
import { eventually, streamConfig } from '../../support/stream.js';
import { AckWatch } from './ack-watch.js';
import { caseRandom, FAULT_ENV } from './env.js';
import { filesystemLake, type CaseLake } from './lake-view.js';
import { LAKE_TABLES, compareInLake, compareTables, preparePgbench, runLoad, sourceRowCounts } from './load.js';
import { CaseProcesses } from './processes.js';
import { recordCase, type FaultRecord } from './report.js';
import { CaseServers } from './servers.js';

/** What a case's fault schedule works with. */
export interface CaseContext {
  readonly servers: CaseServers;
  readonly processes: CaseProcesses;
  /** The case's seeded random numbers. */
  readonly random: () => number;
  /** Seconds since the load started. */
  readonly elapsedSec: () => number;
  /** Waits until `ms` after the load started. */
  readonly untilMs: (ms: number) => Promise<void>;
  /** Notes a fault injected at `atSec` and the system's response, for the report. */
  readonly record: (fault: string, atSec: number, response: string) => void;
}

export interface FaultCaseSpec {
  readonly name: string;
  /** How long pgbench runs, in seconds. */
  readonly loadSec: number;
  /** flush.interval_sec: 1 by default. */
  readonly flushIntervalSec?: number;
  /** Lines added to the case's pg-cdc.yml. */
  readonly config?: readonly string[];
  /** The lake: under `state_dir` by default; given, it is made once the servers run (the S3 case's bucket). */
  readonly lake?: (servers: CaseServers) => Promise<CaseLake>;
  readonly moto?: boolean;
  /** Run a separate `pg-cdc worker` beside `pg-cdc start` from the beginning. */
  readonly worker?: boolean;
  /**
   * Injects the faults, beside the load, and returns once the system has been given what it needs to recover
   * (a server started again, a process restarted). Time it with `untilMs` and `random`.
   */
  inject(context: CaseContext): Promise<void>;
  /** Undoes what the case set up outside its servers (a mount); runs whatever happened. */
  cleanup?(): Promise<void>;
}

/** Whether the suite's tools are here: pgbench and the Python readers (in CI their absence fails). */
export function missingTool(): string | false {
  if (!PGBENCH) return skipLoudlyOrFail('pgbench is not installed (postgresql-client)');
  const { skip } = pythonOrSkip();
  return skip ?? false;
}

const CATCH_UP_MS = 240_000;

/**
 * One fault case, start to end: its own servers, a pgbench database snapshotted by `pg-cdc init` and streamed by
 * `pg-cdc start`, the slot and the manifest sampled throughout, the load with the case's faults injected beside it,
 * then the recovery and the checks: the lake equal to PostgreSQL through pg-cdc's reader, PyIceberg and DuckDB's
 * iceberg_scan (nothing lost, nothing duplicated), `pg-cdc start` stopping cleanly, and the slot never confirmed
 * past what the lake held. The outcome goes to the suite's report whatever happens.
 */
export async function runFaultCase(spec: FaultCaseSpec): Promise<void> {
  const started = Date.now();
  const faults: FaultRecord[] = [];
  let detail = '';
  let passed = false;
  let servers: CaseServers | undefined;
  let processes: CaseProcesses | undefined;
  const phases: string[] = [];
  let phaseStart = started;
  const phase = (name: string): void => {
    phases.push(`${name} ${((Date.now() - phaseStart) / 1000).toFixed(0)}`);
    phaseStart = Date.now();
  };
  try {
    servers = await CaseServers.start({ moto: spec.moto === true });
    const url = await servers.postgres.createDatabase('faults');
    await preparePgbench(url);
    phase('servers+pgbench');
    const customLake = spec.lake ? await spec.lake(servers) : undefined;
    const config = streamConfig({
      url,
      prefix: 'faults',
      flushIntervalSec: spec.flushIntervalSec ?? 1,
      maxRows: 20_000,
      heartbeatSec: 5,
      temporal: servers.temporalAddress,
      extra: [...(customLake?.configLines ?? []), ...(spec.config ?? [])],
    });
    const lake = customLake ?? filesystemLake(config.stateDir);
    const init = await runCli(['--config', config.path, 'init'], lake.env);
    assert.equal(init.code, 0, `pg-cdc init: ${init.stdout}${init.stderr}`);
    phase('init');

    processes = new CaseProcesses(config.path, lake.env);
    await processes.startStream();
    if (spec.worker) await processes.startWorker();
    const watch = new AckWatch(url, config.slot, lake, LAKE_TABLES);
    phase('start');

    const loadStarted = Date.now();
    const context: CaseContext = {
      servers,
      processes,
      random: caseRandom(spec.name),
      elapsedSec: () => (Date.now() - loadStarted) / 1000,
      untilMs: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, loadStarted + ms - Date.now()))),
      record: (fault, atSec, response) => void faults.push({ case: spec.name, fault, atSec, response }),
    };
    const [loadFailures] = await Promise.all([runLoad(url, spec.loadSec), spec.inject(context)]);
    const recovery = await processes.ensureStreaming();
    if (!recovery.endsWith('rode it out')) context.record('(after the faults)', context.elapsedSec(), recovery);

    phase('load+faults');
    await eventually(() => compareInLake(url, lake), CATCH_UP_MS).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n--- pg-cdc logs ---\n${processes!.logTail()}`);
    });
    phase('catch-up');
    const exitCode = await processes.stopAll();
    assert.equal(exitCode, 0, `pg-cdc start did not stop cleanly:\n${processes.logTail()}`);
    await watch.stop();
    phase('stop');

    const commitLsns = new Map<string, bigint[]>();
    for (const table of LAKE_TABLES) commitLsns.set(table, await lake.commitLsns(table));
    const { samples, failedReads } = watch.counts;
    assert.ok(samples >= 5, `only ${samples} samples of the slot and the manifest (${failedReads} failed reads)`);
    const violations = watch.violations(commitLsns);
    assert.deepEqual(violations, [], 'the slot was confirmed past what the lake held');

    await compareWithReaders(url, lake);
    phase('readers');
    detail = `${await sourceRowCounts(url)} rows equal in DuckDB (ours), PyIceberg and iceberg_scan; ${samples} ack samples, none past the lake; ${loadFailures} pgbench runs failed`;
    passed = true;
  } catch (error) {
    detail = (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 300);
    throw error;
  } finally {
    const keepLogs = process.env[FAULT_ENV.logs];
    if (keepLogs && processes) {
      mkdirSync(keepLogs, { recursive: true });
      writeFileSync(join(keepLogs, `${spec.name}.log`), processes.allLogs());
    }
    await processes?.killAll().catch(() => undefined);
    await servers?.stop();
    await spec.cleanup?.().catch(() => undefined);
    phase('teardown');
    recordCase({
      case: spec.name,
      passed,
      durationSec: (Date.now() - started) / 1000,
      faults,
      detail: `${detail}\n  seconds: ${phases.join(', ')}`,
    });
  }
}

/** The final word: two Iceberg readers we did not write, each applying the position deletes itself. */
async function compareWithReaders(url: string, lake: CaseLake): Promise<void> {
  const { python } = pythonOrSkip();
  assert.ok(python, 'the Python readers are missing');
  const tables = await Promise.all(
    PGBENCH_TABLES.map(async ([table, columns]) => ({
      location: await lake.metadataLocation(`public.${table}`),
      columns,
    })),
  );
  const scans = scanWithBothReaders(python, tables, {
    pyIcebergProperties: lake.pyIcebergProperties,
    s3: lake.duckDbS3,
  });
  const scanned = (reader: keyof BothReaders) => (table: string) =>
    Promise.resolve(scans[LAKE_TABLES.indexOf(table)]![reader]);
  const pyIceberg = await compareTables(url, scanned('pyiceberg'));
  assert.equal(pyIceberg, true, `PyIceberg: ${String(pyIceberg)}`);
  const icebergScan = await compareTables(url, scanned('iceberg_scan'));
  assert.equal(icebergScan, true, `DuckDB iceberg_scan: ${String(icebergScan)}`);
}
