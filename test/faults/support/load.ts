import { PGBENCH_TABLES, pgbench } from '../../support/pgbench.js';
import type { CaseLake } from './lake-view.js';
import pg from 'pg';

/** The four pgbench tables as the lake names them. */
export const LAKE_TABLES = PGBENCH_TABLES.map(([table]) => `public.${table}`);

/** A small TPC-B database: scale 1 (100,000 accounts), history replicated with its full old row. */
export async function preparePgbench(url: string): Promise<void> {
  await pgbench(url, ['-i', '-s', '1', '-q']);
  await query(url, 'ALTER TABLE pgbench_history REPLICA IDENTITY FULL');
}

async function query<R extends pg.QueryResultRow>(url: string, text: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text)).rows;
  } finally {
    await client.end();
  }
}

/**
 * TPC-B for `seconds`, rate-limited (the machine is shared), as a run of short pgbench invocations: a fault that
 * ends pgbench's sessions (PostgreSQL restarting) ends one invocation, and the next starts as soon as the server
 * answers. Resolves with how many invocations failed.
 */
export async function runLoad(url: string, seconds: number, options: { tps?: number } = {}): Promise<number> {
  const until = Date.now() + seconds * 1000;
  let failures = 0;
  while (Date.now() < until - 500) {
    const slice = Math.max(1, Math.min(5, Math.round((until - Date.now()) / 1000)));
    try {
      await pgbench(url, ['-c', '4', '-j', '2', '-T', String(slice), '-R', String(options.tps ?? 200), '-n']);
    } catch {
      failures += 1;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  return failures;
}

const rowKey =
  (columns: readonly string[]) =>
  (row: Record<string, unknown>): string =>
    columns.map((c) => String(row[c])).join('|');

/** Rows as sorted keys of the compared columns, from PostgreSQL. */
async function sourceKeys(url: string, table: string, columns: readonly string[]): Promise<string[]> {
  return (await query<Record<string, unknown>>(url, `SELECT ${columns.join(', ')} FROM ${table}`))
    .map(rowKey(columns))
    .sort();
}

/** What one reader's rows lack and repeat against the source's: lost rows and duplicated (or extra) ones. */
export function difference(source: readonly string[], mirrored: readonly string[]): { lost: number; extra: number } {
  const counts = new Map<string, number>();
  for (const key of source) counts.set(key, (counts.get(key) ?? 0) + 1);
  let extra = 0;
  for (const key of mirrored) {
    const left = counts.get(key) ?? 0;
    if (left > 0) counts.set(key, left - 1);
    else extra += 1;
  }
  let lost = 0;
  for (const left of counts.values()) lost += left;
  return { lost, extra };
}

/** Compares every pgbench table's rows in the lake (through `read`) with PostgreSQL's; a description of the first difference. */
export async function compareTables(
  url: string,
  read: (table: string, columns: readonly string[]) => Promise<Record<string, unknown>[]>,
): Promise<true | string> {
  for (const [table, columns] of PGBENCH_TABLES) {
    const [source, mirrored] = await Promise.all([
      sourceKeys(url, table, columns),
      read(`public.${table}`, columns).then((rows) => rows.map(rowKey(columns)).sort()),
    ]);
    const { lost, extra } = difference(source, mirrored);
    if (lost > 0 || extra > 0) {
      return `${table}: ${source.length} rows in PostgreSQL, ${mirrored.length} in the lake (${lost} lost, ${extra} duplicated or extra)`;
    }
  }
  return true;
}

/** Through pg-cdc's own reader (DuckDB over the live files): the check polled while the lake catches up. */
export const compareInLake = (url: string, lake: CaseLake): Promise<true | string> =>
  compareTables(url, (table, columns) => lake.rows(table, columns.map((c) => `d.${c}`).join(', ')));

/** How many rows the pgbench tables hold in PostgreSQL, for the report. */
export async function sourceRowCounts(url: string): Promise<string> {
  const counts: string[] = [];
  for (const [table] of PGBENCH_TABLES) {
    const [row] = await query<{ n: string }>(url, `SELECT count(*)::text AS n FROM ${table}`);
    counts.push(`${table.replace('pgbench_', '')} ${row!.n}`);
  }
  return counts.join(', ');
}
