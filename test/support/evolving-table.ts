/**
 * A source table whose columns change under a test, compared with the lake as text: the columns it has now, its rows
 * ordered by their first column (an integer id), and the lake's rows in the same shape, whichever reader read them.
 */
import { lakeRows } from './stream.js';
import type { freshDatabase } from './stack.js';

type Db = Awaited<ReturnType<typeof freshDatabase>>;

export interface TableText {
  readonly columns: string[];
  readonly rows: string[][];
}

/** The columns of `table` (in the public schema) now, and its rows as text, ordered by id. */
export async function sourceState(db: Db, table: string): Promise<TableText> {
  const columns = (
    await db.sql<{ name: string }>(
      `SELECT attname AS name FROM pg_attribute WHERE attrelid = '${table}'::regclass AND attnum > 0
          AND NOT attisdropped ORDER BY attnum`,
    )
  ).map((r) => r.name);
  const select = columns.map((c) => `${c}::text AS "${c}"`).join(', ');
  const rows = await db.sql<Record<string, string | null>>(`SELECT ${select} FROM ${table}`);
  const text = rows.map((r) => columns.map((c) => r[c] ?? 'NULL'));
  return { columns, rows: text.sort((a, b) => Number(a[0]) - Number(b[0])) };
}

/** A value as the source's `::text` shows it. */
export function asText(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
}

/** A reader's rows as text in the order of `columns`, ordered by id, to compare with `sourceState`'s. */
export function lakeTable(rows: Record<string, unknown>[], columns: readonly string[]): string[][] {
  return rows.map((r) => columns.map((c) => asText(r[c]))).sort((a, b) => Number(a[0]) - Number(b[0]));
}

/** True when the lake's `public.<table>` (read by pg-cdc's scan) equals the source; otherwise what differs. */
export async function lakeMatches(db: Db, lake: string, table: string): Promise<true | string> {
  const source = await sourceState(db, table);
  const select = source.columns.map((c) => `d."${c}"::VARCHAR AS "${c}"`).join(', ');
  const got = lakeTable(await lakeRows(lake, `public.${table}`, select), source.columns);
  if (JSON.stringify(got) === JSON.stringify(source.rows)) return true;
  return `lake differs:\n want ${JSON.stringify(source.rows).slice(0, 800)}\n got  ${JSON.stringify(got).slice(0, 800)}`;
}
