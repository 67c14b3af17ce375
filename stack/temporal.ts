import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { EnvironmentError } from '../core/errors/index.js';
import { silentLogger, type Logger } from '../core/log/index.js';
import { SEARCH_ATTRIBUTES } from '../core/temporal/index.js';
import { freePort, isListening } from './ports.js';
import { ManagedProcess, processAlive, stopPid } from './process.js';
import { requireTemporalCli } from './temporal-cli.js';

export interface DevServerOptions {
  /** Directory for the server's SQLite database, log and record file; history survives restarts. */
  readonly stateDir: string;
  readonly namespace?: string;
  readonly port?: number;
  readonly uiPort?: number;
  readonly ui?: boolean;
  /**
   * true: the server outlives this process and is found again by the next pg-cdc command through its record file
   * (the CLI's default). false: stop() ends it (tests, the demo).
   */
  readonly keepRunning?: boolean;
  readonly log?: Logger;
}

export interface RunningDevServer {
  readonly address: string;
  readonly namespace: string;
  readonly uiUrl: string | undefined;
  readonly pid: number;
  readonly reused: boolean;
  stop(): Promise<void>;
}

/** Kept after a stop (pid null) so a restart binds the same ports and bookmarks to the UI keep working. */
interface ServerRecord {
  pid: number | null;
  port: number;
  uiPort: number | null;
  namespace: string;
}

const HOST = '127.0.0.1';
const recordPath = (stateDir: string): string => join(stateDir, 'server.json');

async function frontendAnswers(address: string): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: 1000 });
    try {
      await connection.workflowService.getSystemInfo({});
      return true;
    } finally {
      await connection.close();
    }
  } catch {
    return false;
  }
}

function readRecord(stateDir: string): ServerRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordPath(stateDir), 'utf8')) as ServerRecord;
  } catch {
    return undefined;
  }
}

/**
 * A portable way to pick a port: the one asked for, the one used last time if still free, or any free one other
 * than those already picked.
 */
async function choosePort(
  requested: number | undefined,
  previous: number | null | undefined,
  picked: readonly number[],
): Promise<number> {
  if (requested) return requested;
  if (previous && !(await isListening(HOST, previous))) return previous;
  return freePort(picked);
}

/**
 * Start `temporal server start-dev` with its SQLite database in `stateDir` (workflow history survives restarts),
 * or reuse the one already running for that directory.
 */
export async function startTemporalDevServer(options: DevServerOptions): Promise<RunningDevServer> {
  const log = options.log ?? silentLogger;
  const namespace = options.namespace ?? 'default';
  const ui = options.ui ?? true;
  mkdirSync(options.stateDir, { recursive: true });

  const previous = readRecord(options.stateDir);
  if (previous && processAlive(previous.pid) && (await frontendAnswers(`${HOST}:${previous.port}`))) {
    log.info({ address: `${HOST}:${previous.port}`, pid: previous.pid }, 'reusing the embedded Temporal server');
    return {
      address: `${HOST}:${previous.port}`,
      namespace: previous.namespace,
      uiUrl: previous.uiPort ? `http://${HOST}:${previous.uiPort}` : undefined,
      pid: previous.pid!,
      reused: true,
      stop: async () => {
        if (!options.keepRunning) await stopDevServer(options.stateDir);
      },
    };
  }

  const cli = requireTemporalCli();
  const port = await choosePort(options.port, previous?.port, []);
  const uiPort = ui ? await choosePort(options.uiPort, previous?.uiPort, [port]) : null;
  // Left to itself, the CLI picks these at random before it binds --port, and may pick that very port.
  const httpPort = await freePort([port, uiPort ?? port]);
  const metricsPort = await freePort([port, uiPort ?? port, httpPort]);
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    join(options.stateDir, 'temporal.sqlite'),
    '--ip',
    HOST,
    '--port',
    String(port),
    '--http-port',
    String(httpPort),
    '--metrics-port',
    String(metricsPort),
    ...(namespace === 'default' ? [] : ['--namespace', namespace]),
    '--log-level',
    'warn',
    ...(uiPort ? ['--ui-port', String(uiPort), '--ui-ip', HOST] : ['--headless']),
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
  ];
  const logFile = join(options.stateDir, 'temporal.log');
  const address = `${HOST}:${port}`;
  let pid: number;
  let managed: ManagedProcess | undefined;
  if (options.keepRunning) {
    const fd = openSync(logFile, 'a');
    const child = spawn(cli.path, args, { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child.unref();
    pid = child.pid!;
    const deadline = Date.now() + 60_000;
    while (!(await frontendAnswers(address))) {
      if (!processAlive(pid) || Date.now() > deadline) {
        throw new EnvironmentError('the embedded Temporal server did not start', {
          context: { address, log: logFile },
          hint: `see ${logFile}; another process may hold the port or the database file`,
        });
      }
      await sleep(200);
    }
  } else {
    managed = ManagedProcess.start('temporal server start-dev', cli.path, args, { logFile });
    await managed.waitUntilReady(() => frontendAnswers(address), 60_000, 'the embedded Temporal server did not start');
    pid = managed.pid!;
  }
  writeFileSync(recordPath(options.stateDir), JSON.stringify({ pid, port, uiPort, namespace } satisfies ServerRecord));
  const uiUrl = uiPort ? `http://${HOST}:${uiPort}` : undefined;
  log.info({ address, uiUrl, cli: cli.path }, 'embedded Temporal server ready');
  return {
    address,
    namespace,
    uiUrl,
    pid,
    reused: false,
    stop: async () => {
      if (options.keepRunning) return;
      await managed?.stop('SIGTERM');
      markStopped(options.stateDir);
    },
  };
}

/** Stop the embedded server recorded for `stateDir`, whoever started it. Returns false when none was running. */
export async function stopDevServer(stateDir: string): Promise<boolean> {
  const record = readRecord(stateDir);
  if (!record) return false;
  const wasAlive = processAlive(record.pid);
  await stopPid(record.pid, 'SIGTERM', 15_000);
  markStopped(stateDir);
  return wasAlive;
}

function markStopped(stateDir: string): void {
  const record = readRecord(stateDir);
  if (record) writeFileSync(recordPath(stateDir), JSON.stringify({ ...record, pid: null } satisfies ServerRecord));
}

/** The address of the embedded server recorded for `stateDir`, when it is running. */
export function runningDevServerAddress(stateDir: string): string | undefined {
  const record = readRecord(stateDir);
  return record && processAlive(record.pid) ? `${HOST}:${record.port}` : undefined;
}
