/**
 * Shared by the serve integration tests: a real lake made the way a user makes one (a database, `pg-cdc init`
 * through the shared Temporal server, `pg-cdc acl register`, one column reclassified), a pg-cdc.yml with roles
 * and bearer tokens, and the MCP Inspector CLI, which is used when it can run here and skipped loudly otherwise.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { sha256Hex } from '../../api/http/auth.js';
import { PG_CDC_BIN, runCli, type CliResult } from '../support/cli.js';
import { freshDatabase, sharedTemporal, tempDir, uniqueName, writeConfig } from '../support/stack.js';

export const TOKENS = { analyst: `analyst-${uniqueName('t')}`, auditor: `auditor-${uniqueName('t')}` } as const;
export type Principal = keyof typeof TOKENS;

export interface ServeLake {
  readonly db: Awaited<ReturnType<typeof freshDatabase>>;
  readonly config: string;
  readonly cli: (...args: string[]) => Promise<CliResult>;
}

/**
 * people (id, name, email, amount, born) and orders; `public.*` is tagged internal, people.email pii. analyst
 * may read internal, auditor internal and pii.
 */
export async function snapshotLake(prefix: string, serveYaml: string[] = []): Promise<ServeLake> {
  const db = await freshDatabase(prefix);
  await db.sql(`
    CREATE TABLE people (id bigint PRIMARY KEY, name text, email text, amount numeric(12, 2), born date);
    INSERT INTO people VALUES
      (1, 'Ada', 'ada@example.com', 12.34, '1990-05-17'),
      (2, 'Grace', 'grace@example.com', -0.01, '2024-02-29'),
      (3, NULL, NULL, NULL, NULL),
      (4, 'Edsger', 'edsger@example.com', 100, '1969-12-31'),
      (5, 'Barbara', 'barbara@example.com', 7.5, '2000-01-01');
    CREATE TABLE orders (id int PRIMARY KEY, person_id bigint, status text);
    INSERT INTO orders SELECT g, g % 5 + 1, CASE WHEN g % 2 = 0 THEN 'shipped' ELSE 'new' END FROM generate_series(1, 7) g;
  `);
  const temporal = sharedTemporal();
  const config = writeConfig(
    [
      `state_dir: ${join(tempDir(), 'state')}`,
      'source:',
      '  postgres:',
      `    url: ${db.url()}`,
      'replication:',
      `  slot: ${uniqueName('serve_slot')}`,
      'temporal:',
      `  address: ${temporal.address}`,
      `  namespace: ${temporal.namespace}`,
      `  task_queue: ${uniqueName('serve')}`,
      'tables:',
      '  tags:',
      '    "public.*": { sensitivity: internal }',
      'governance:',
      '  roles:',
      '    analyst: { grant: "sensitivity = internal" }',
      '    auditor: { grant: "sensitivity in [internal, pii]" }',
      'serve:',
      '  mcp: { principal: analyst }',
      '  http:',
      '    tokens:',
      ...Object.entries(TOKENS).flatMap(([principal, token]) => [
        `      - principal: ${principal}`,
        `        sha256: ${sha256Hex(token)}`,
      ]),
      ...serveYaml,
      '',
    ].join('\n'),
  );
  const cli = (...args: string[]): Promise<CliResult> => runCli(['--config', config, ...args]);
  const init = await cli('init');
  assert.equal(init.code, 0, init.stdout + init.stderr);
  const register = await cli('acl', 'register');
  assert.equal(register.code, 0, register.stdout + register.stderr);
  const pii = await cli(
    'acl',
    'set',
    `${db.name}.public.people.email`,
    '--tag',
    'sensitivity=pii',
    '--reason',
    'contact data',
  );
  assert.equal(pii.code, 0, pii.stdout + pii.stderr);
  return { db, config, cli };
}

export interface RunningServe {
  readonly child: ChildProcess;
  readonly url: string;
  readonly stderr: () => string;
  stop(): Promise<void>;
}

/** `pg-cdc serve --http --port 0 …`, resolved once it prints the address it listens on. */
export async function startHttpServe(config: string, extra: string[] = []): Promise<RunningServe> {
  const child = spawn(process.execPath, [PG_CDC_BIN, '--config', config, 'serve', '--http', '--port', '0', ...extra], {
    env: { ...process.env, PGCDC_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start in 30 s:\n${stderr}`)), 30_000);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${stderr}`));
    });
  });
  return {
    child,
    url,
    stderr: () => stderr,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

const require = createRequire(import.meta.url);
/** The Inspector's launcher, resolved from the installed package (its CLI is `mcp-inspector --cli`). */
export function inspectorBin(): string {
  return join(require.resolve('@modelcontextprotocol/inspector/package.json'), '..', 'clients/launcher/build/index.js');
}

export interface InspectorResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function inspector(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<InspectorResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [inspectorBin(), '--cli', ...args], {
      env: { ...process.env, ...env },
      timeout: 120_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === 'number' ? failed.code : -1,
      stdout: failed.stdout ?? '',
      stderr: failed.stderr ?? String(error),
    };
  }
}

/**
 * Why the Inspector CLI cannot run here, or undefined when it can: it is tried once (its version). A test that
 * needs it skips with this reason, printed so that nobody mistakes the skip for a pass; CI must be able to run it.
 */
export async function inspectorUnavailable(): Promise<string | undefined> {
  let reason: string | undefined;
  try {
    const probe = await inspector(['--version']);
    if (probe.code !== 0 || !/\d+\.\d+\.\d+/.test(probe.stdout)) {
      reason = `the MCP Inspector CLI did not run (exit ${probe.code}): ${(probe.stderr || probe.stdout).trim().slice(0, 300)}`;
    }
  } catch (error) {
    reason = `the MCP Inspector CLI is not installed: ${String(error)}`;
  }
  if (reason === undefined) return undefined;
  const loud = `SKIPPED LOUDLY: ${reason}`;
  if (process.env.CI === 'true') throw new Error(`${loud}; CI must run it`);
  process.stderr.write(`\n*** ${loud} ***\n`);
  return loud;
}

/** The JSON document an Inspector CLI call printed on stdout. */
export function inspectorJson<T>(result: InspectorResult): T {
  const start = result.stdout.indexOf('{');
  assert.ok(start >= 0, `no JSON from the inspector: ${result.stdout}\n${result.stderr}`);
  return JSON.parse(result.stdout.slice(start)) as T;
}
