import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { openLake, type Lake } from '../../lake/open.js';
import { openDuckDB } from '../../lake/parquet/writer.js';
import { currentDataFiles } from '../../lake/reader.js';
import { liveRowsSql } from '../../lake/scan.js';
import { PG_CDC_BIN } from './cli.js';
import { sharedTemporal, tempDir, uniqueName, writeConfig } from './stack.js';

/** A pg-cdc.yml for streaming tests: its own state dir, slot and task queue on the shared servers. */
export function streamConfig(options: {
  url: string;
  prefix: string;
  flushIntervalSec?: number;
  maxRows?: number;
  heartbeatSec?: number;
  /** replication.table_check_interval_sec: how soon tables that join or are dropped are noticed. */
  tableCheckSec?: number;
  /** A Temporal server of the test's own; the shared one by default. */
  temporal?: { readonly address: string; readonly namespace: string };
  extra?: readonly string[];
}): { path: string; stateDir: string; lake: string; slot: string } {
  const stateDir = join(tempDir(), 'state');
  const slot = uniqueName(`${options.prefix}_slot`);
  const temporal = options.temporal ?? sharedTemporal();
  const path = writeConfig(
    [
      `state_dir: ${stateDir}`,
      'source:',
      '  postgres:',
      `    url: ${options.url}`,
      '    reconnect: { initial_delay_sec: 0.2, max_delay_sec: 1, max_attempts: 20 }',
      'replication:',
      `  slot: ${slot}`,
      `  heartbeat_interval_sec: ${options.heartbeatSec ?? 30}`,
      ...(options.tableCheckSec === undefined ? [] : [`  table_check_interval_sec: ${options.tableCheckSec}`]),
      'flush:',
      `  interval_sec: ${options.flushIntervalSec ?? 0.5}`,
      `  max_rows: ${options.maxRows ?? 100000}`,
      'temporal:',
      `  address: ${temporal.address}`,
      `  namespace: ${temporal.namespace}`,
      `  task_queue: ${uniqueName(options.prefix)}`,
      ...(options.extra ?? []),
      '',
    ].join('\n'),
  );
  return { path, stateDir, lake: join(stateDir, 'lake'), slot };
}

export interface RunningStream {
  readonly child: ChildProcess;
  /** Everything the process wrote to stderr so far. */
  logs(): string;
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM (or the given signal) and the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

/** `pg-cdc start` on `configPath`; without `/metrics` unless `options.metrics` (then on the config's metrics.listen). */
export function startStream(
  configPath: string,
  env: NodeJS.ProcessEnv = {},
  options: { readonly metrics?: boolean } = {},
): RunningStream {
  const args = [PG_CDC_BIN, '--config', configPath, 'start', ...(options.metrics ? [] : ['--no-metrics'])];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, PGCDC_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ? 128 : code)),
  );
  const waitForLog = async (pattern: RegExp, timeoutMs = 60_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(stderr)) {
      if (child.exitCode !== null)
        throw new Error(`pg-cdc start exited (${child.exitCode}) before ${pattern}:\n${stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${stderr.slice(-4000)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  return {
    child,
    logs: () => stderr,
    waitForLog,
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = 120_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** The lake at `lakePath` (a filesystem warehouse with its local catalog), opened as pg-cdc opens it. */
export const lakeAt = (lakePath: string): Lake =>
  openLake({ storage: { type: 'filesystem', path: lakePath }, catalog: { type: 'local' } });

/** The path of a lake table's current metadata file, for readers that open it themselves (PyIceberg). */
export async function lakeMetadataPath(lakePath: string, table: string): Promise<string> {
  const { metadataKey } = await lakeAt(lakePath).catalog.loadTable(table);
  return join(lakePath, metadataKey);
}

/** Rows of a lake table's current snapshot (deletes applied), as DuckDB returns `select` over alias d. */
export async function lakeRows(lakePath: string, table: string, select: string): Promise<Record<string, unknown>[]> {
  const { store, catalog } = lakeAt(lakePath);
  const files = await currentDataFiles(store, catalog, table);
  const sql = liveRowsSql(files, { select });
  if (!sql) return [];
  const duck = await openDuckDB({ threads: 1 });
  try {
    const reader = await duck.connection.runAndReadAll(sql);
    return reader.getRowObjectsJson();
  } finally {
    duck.close();
  }
}

/** Polls until `check` returns true; the last failure message is in the error. */
export async function eventually(check: () => Promise<true | string>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const result = await check();
      if (result === true) return;
      last = result;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
