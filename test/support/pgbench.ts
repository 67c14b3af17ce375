import { spawn, spawnSync } from 'node:child_process';

/** pgbench from Debian's postgresql-client, or undefined (tests then skip loudly, or fail under `CI=true`). */
export const PGBENCH = ['/usr/lib/postgresql/15/bin/pgbench', '/usr/bin/pgbench'].find(
  (path) => spawnSync(path, ['--version']).status === 0,
);

/**
 * The TPC-B tables and the columns compared between PostgreSQL and the lake: integers, whose text forms agree in
 * every reader. Every pgbench transaction touches all four.
 */
export const PGBENCH_TABLES: ReadonlyArray<[table: string, columns: readonly string[]]> = [
  ['pgbench_accounts', ['aid', 'bid', 'abalance']],
  ['pgbench_branches', ['bid', 'bbalance']],
  ['pgbench_tellers', ['tid', 'bid', 'tbalance']],
  ['pgbench_history', ['tid', 'bid', 'aid', 'delta']],
];

/** Runs pgbench with `args` against `url`; rejects with its stderr when it exits non-zero. */
export function pgbench(url: string, args: readonly string[]): Promise<void> {
  if (!PGBENCH) return Promise.reject(new Error('pgbench is not installed (postgresql-client)'));
  return new Promise((resolve, reject) => {
    const child = spawn(PGBENCH, [...args, url], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pgbench ${args.join(' ')}: ${stderr}`))));
  });
}
