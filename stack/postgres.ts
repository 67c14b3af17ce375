import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import pg from 'pg';
import { EnvironmentError } from '../core/errors/index.js';
import { silentLogger, type Logger } from '../core/log/index.js';
import { findPostgresBinaries } from './postgres-binaries.js';
import { freePort, isListening } from './ports.js';
import { ManagedProcess, processAlive, stopPid } from './process.js';

export interface PostgresClusterOptions {
  /** Where the cluster lives. Omitted: a temporary directory removed by stop(). Existing clusters are reused. */
  readonly dataDir?: string;
  readonly port?: number;
  readonly walLevel?: 'logical' | 'replica' | 'minimal';
  readonly maxReplicationSlots?: number;
  readonly maxWalSenders?: number;
  /** false trades crash safety for speed (fsync off): for throwaway test clusters only. */
  readonly durable?: boolean;
  readonly settings?: Readonly<Record<string, string | number>>;
  /** true: the server outlives this process (pg_ctl), and the next start on the same dataDir reuses it. */
  readonly keepRunning?: boolean;
  readonly log?: Logger;
}

export interface RunningPostgres {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly version: number;
  readonly superuser: string;
  url(database?: string, user?: string): string;
  /** Run SQL as the superuser on one database (default `postgres`). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
    database?: string,
  ): Promise<pg.QueryResult<R>>;
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

const SUPERUSER = 'postgres';
const SETTINGS_FILE = 'pg-cdc.conf';

/** PostgreSQL refuses to run as root; when we are root, the server runs as the `postgres` system user. */
function serverIdentity(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new EnvironmentError('running as root, and there is no `postgres` user to run the PostgreSQL server as', {
      hint: 'PostgreSQL will not run as root: create the user (`useradd --system --create-home postgres`) or run as a normal user; `npm run setup` does this for you',
    });
  }
}

/** Can `uid` reach `dir`? Every ancestor must be searchable by it. */
function traversableBy(dir: string, uid: number): boolean {
  for (let current = dirname(dir); ; current = dirname(current)) {
    if (existsSync(current)) {
      const { mode, uid: owner } = statSync(current);
      if (!(mode & 0o001) && owner !== uid) return false;
    }
    if (current === dirname(current)) return true;
  }
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const entry of readdirSync(path)) chownTree(join(path, entry), uid, gid);
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function writeSettings(
  dataDir: string,
  settings: Record<string, string | number>,
  owner?: { uid: number; gid: number },
): void {
  const conf = join(dataDir, 'postgresql.conf');
  if (!readFileSync(conf, 'utf8').includes(`include_if_exists '${SETTINGS_FILE}'`)) {
    appendFileSync(conf, `\n# written by pg-cdc's embedded stack\ninclude_if_exists '${SETTINGS_FILE}'\n`);
  }
  const quote = (value: string | number): string =>
    typeof value === 'number' ? String(value) : `'${value.replace(/'/g, "''")}'`;
  const file = join(dataDir, SETTINGS_FILE);
  writeFileSync(
    file,
    Object.entries(settings)
      .map(([k, v]) => `${k} = ${quote(v)}`)
      .join('\n') + '\n',
  );
  if (owner) chownSync(file, owner.uid, owner.gid);
}

/** The port this cluster used last time, so a restarted demo keeps its address; undefined when taken or new. */
async function previousPortIfFree(dataDir: string): Promise<number | undefined> {
  try {
    const match = /^port = (\d+)$/m.exec(readFileSync(join(dataDir, SETTINGS_FILE), 'utf8'));
    const port = match ? Number(match[1]) : undefined;
    return port !== undefined && !(await isListening('127.0.0.1', port)) ? port : undefined;
  } catch {
    return undefined;
  }
}

/** The port of a server already running on `dataDir`, from its postmaster.pid, if its process is alive. */
function runningPort(dataDir: string): number | undefined {
  try {
    const [pid, , , port] = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
    return processAlive(Number(pid)) ? Number(port) : undefined;
  } catch {
    return undefined;
  }
}

// The directory of a cluster in the OS temp dir: made when no data directory is given, or when the postgres user
// cannot reach the one given.
const TEMPORARY_PREFIX = 'pg-cdc-pg-';

export async function startPostgres(options: PostgresClusterOptions = {}): Promise<RunningPostgres> {
  const log = options.log ?? silentLogger;
  const binaries = findPostgresBinaries();
  const identity = serverIdentity();
  const temporary =
    options.dataDir === undefined || (identity !== undefined && !traversableBy(options.dataDir, identity.uid));
  if (options.dataDir !== undefined && temporary) {
    log.warn(
      { dataDir: options.dataDir },
      'the postgres user cannot reach the state directory; using a temporary cluster',
    );
  }
  const dataDir =
    temporary || options.dataDir === undefined
      ? join(mkdtempSync(join(tmpdir(), TEMPORARY_PREFIX)), 'data')
      : options.dataDir;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (identity) chownTree(dirname(dataDir), identity.uid, identity.gid);
  const spawnAs = identity ? { uid: identity.uid, gid: identity.gid } : {};
  const host = '127.0.0.1';
  const urlFor =
    (port: number) =>
    (database = 'postgres', user = SUPERUSER): string =>
      `postgresql://${encodeURIComponent(user)}@${host}:${port}/${encodeURIComponent(database)}`;

  const existingPort = runningPort(dataDir);
  if (existingPort !== undefined && (await canConnect(urlFor(existingPort)()))) {
    log.info({ port: existingPort, dataDir }, 'reusing the running embedded postgres');
    return handle(
      { host, port: existingPort, dataDir, version: binaries.version, url: urlFor(existingPort) },
      async () => {
        if (!options.keepRunning) await stopPostgresAt(dataDir);
      },
    );
  }

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    log.info({ dataDir, binDir: binaries.binDir }, 'initdb');
    try {
      execFileSync(
        join(binaries.binDir, 'initdb'),
        ['-D', dataDir, '-U', SUPERUSER, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
        { ...spawnAs, stdio: 'pipe' },
      );
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new EnvironmentError('initdb failed', { context: { dataDir }, hint: stderr.trim(), cause: error });
    }
  }

  const port = options.port ?? (await previousPortIfFree(dataDir)) ?? (await freePort());
  const durable = options.durable ?? true;
  writeSettings(
    dataDir,
    {
      port,
      listen_addresses: host,
      unix_socket_directories: dataDir,
      wal_level: options.walLevel ?? 'logical',
      max_replication_slots: options.maxReplicationSlots ?? 20,
      max_wal_senders: options.walLevel === 'minimal' ? 0 : (options.maxWalSenders ?? 20),
      ...(durable ? {} : { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' }),
      ...options.settings,
    },
    identity,
  );
  const logFile = join(dirname(dataDir), 'postgres.log');
  const url = urlFor(port);
  const ready = (): Promise<boolean> => canConnect(url());
  if (options.keepRunning) {
    // pg_ctl daemonises the server so it outlives this process; the next command finds it via postmaster.pid.
    try {
      execFileSync(join(binaries.binDir, 'pg_ctl'), ['-D', dataDir, '-l', logFile, '-w', '-t', '60', 'start'], {
        ...spawnAs,
        stdio: 'pipe',
      });
    } catch (error) {
      throw new EnvironmentError('PostgreSQL did not start', {
        context: { dataDir, port, log: logFile },
        hint: `see ${logFile}`,
        cause: error,
      });
    }
    log.info({ port, dataDir, version: binaries.version }, 'postgres ready');
    return handle({ host, port, dataDir, version: binaries.version, url }, () => Promise.resolve());
  }
  const server = ManagedProcess.start('postgres', join(binaries.binDir, 'postgres'), ['-D', dataDir], {
    ...spawnAs,
    logFile,
  });
  await server.waitUntilReady(ready, 60_000, 'PostgreSQL did not start');
  log.info({ port, dataDir, version: binaries.version }, 'postgres ready');
  return handle({ host, port, dataDir, version: binaries.version, url }, async () => {
    await server.stop('SIGINT');
    if (temporary) rmSync(dirname(dataDir), { recursive: true, force: true });
  });
}

/**
 * Fast shutdown of whatever server runs on `dataDir`. Returns false when none was running. A temporary cluster (one
 * startPostgres made in the OS temp directory) is removed once stopped: nothing else would ever find it again.
 */
export async function stopPostgresAt(dataDir: string): Promise<boolean> {
  const port = runningPort(dataDir);
  if (port === undefined) return false;
  const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  // SIGINT is PostgreSQL's fast shutdown.
  const stopped = await stopPid(pid, 'SIGINT', 30_000);
  if (stopped && isTemporaryCluster(dataDir)) rmSync(dirname(dataDir), { recursive: true, force: true });
  return stopped;
}

const isTemporaryCluster = (dataDir: string): boolean =>
  dirname(dirname(dataDir)) === tmpdir() && basename(dirname(dataDir)).startsWith(TEMPORARY_PREFIX);

function handle(
  server: { host: string; port: number; dataDir: string; version: number; url: RunningPostgres['url'] },
  stop: () => Promise<void>,
): RunningPostgres {
  const query = async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = [], database = 'postgres') => {
    const client = new pg.Client({ connectionString: server.url(database) });
    await client.connect();
    try {
      return await client.query<R>(sql, params);
    } finally {
      await client.end();
    }
  };
  return {
    ...server,
    superuser: SUPERUSER,
    query,
    async createDatabase(name) {
      await query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      return server.url(name);
    },
    stop,
  };
}
