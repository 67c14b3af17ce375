/**
 * `pg-cdc query`: the lake through the governed query engine, as one role. Every read names its principal (--role,
 * else $PGCDC_ROLE); without one the command refuses, so nothing is ever read ungoverned by default. The operator
 * who wants everything defines a role whose grant covers it, like any other reader.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { PgCdcError } from '../../core/errors/index.js';
import { tryParseLsn } from '../../core/lsn/index.js';
import {
  createQueryEngine,
  FILTER_SYNTAX,
  type QueryEngine,
  type QueryResult,
  type ReadAt,
  type ResultValue,
} from '../../engine/index.js';
import { openAccessPolicy } from '../../governance/index.js';
import { loadContext, type CommandContext, type GlobalOptions } from '../context.js';

type Format = 'table' | 'json' | 'csv';
type Cell = ResultValue;

const text = (value: Cell): string => (value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value));

const csvField = (value: Cell): string => {
  if (value === null) return '';
  const s = text(value);
  return s === '' || /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** Ranges (first, last) of East Asian wide characters and emoji: two terminal columns each. */
const WIDE = [
  0x1100, 0x115f, 0x2e80, 0xa4cf, 0xac00, 0xd7a3, 0xf900, 0xfaff, 0xfe30, 0xfe4f, 0xff00, 0xff60, 0xffe0, 0xffe6,
  0x1f300, 0x1faff, 0x20000, 0x3fffd,
];
function charWidth(cp: number): number {
  if ((cp >= 0x300 && cp <= 0x36f) || cp === 0x200d || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0;
  for (let i = 0; i < WIDE.length; i += 2) if (cp >= WIDE[i]! && cp <= WIDE[i + 1]!) return 2;
  return 1;
}

export function render(columns: readonly string[], rows: readonly (readonly Cell[])[], format: Format): string {
  if (format === 'json') {
    const objects = rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i] ?? null])));
    return `${JSON.stringify(objects, null, 2)}\n`;
  }
  if (format === 'csv') return [columns, ...rows].map((row) => `${row.map(csvField).join(',')}\r\n`).join('');
  const cells = rows.map((row) =>
    row.map((v) => (v === null ? 'NULL' : text(v).replace(/[\r\n\t]/g, (c) => JSON.stringify(c).slice(1, -1)))),
  );
  const width = (s: string): number => [...s].reduce((w, c) => w + charWidth(c.codePointAt(0) ?? 0), 0);
  const widths = columns.map((c, i) => Math.max(width(c), ...cells.map((row) => width(row[i] ?? ''))));
  const line = (row: readonly string[], right: (i: number) => boolean): string =>
    row
      .map((s, i) => {
        const pad = ' '.repeat(Math.max(0, (widths[i] ?? 0) - width(s)));
        return right(i) ? pad + s : s + pad;
      })
      .join(' | ')
      .trimEnd();
  const numeric = (i: number) => rows.length > 0 && rows.every((r) => r[i] === null || typeof r[i] === 'number');
  const out = [line(columns, () => false), widths.map((w) => '-'.repeat(w)).join('-+-')];
  out.push(...cells.map((row) => line(row, numeric)));
  return `${out.join('\n')}\n(${rows.length} row${rows.length === 1 ? '' : 's'})\n`;
}

export interface QueryOptions {
  table?: string;
  columns?: string[];
  where?: string[];
  limit: string;
  format: Format;
  role?: string;
  sql?: string;
  ref?: string;
  snapshot?: string;
  changesSince?: string;
  /** Commander's name for --no-deltas: false when it is given. */
  deltas?: boolean;
}

export const ROLE_ENV = 'PGCDC_ROLE';

const usage = (message: string, hint: string): PgCdcError => new PgCdcError('QUERY_INVALID', message, { hint });

/** The principal to read as: --role, else $PGCDC_ROLE; never a silent default. */
function principalOf(options: QueryOptions, roles: readonly string[]): string {
  const role = options.role ?? process.env[ROLE_ENV];
  if (role !== undefined && role.trim() !== '') return role;
  throw new PgCdcError('ROLE_REQUIRED', 'pg-cdc query reads as a role, and none was given', {
    hint: roles.length
      ? `pass --role <name> or set ${ROLE_ENV}; the roles in pg-cdc.yml are: ${roles.join(', ')}`
      : 'pg-cdc.yml defines no role: add governance.roles (e.g. analyst: { grant: "sensitivity in [public]" }), ' +
        'tag the tables (tables.tags, then `pg-cdc acl register`), and pass --role analyst',
  });
}

function readAt(options: QueryOptions): ReadAt {
  if (options.ref !== undefined && options.snapshot !== undefined) {
    throw usage(
      '--ref and --snapshot both name a snapshot',
      'give one: --ref main, --ref <tag> or --ref <snapshot id>',
    );
  }
  const baseOnly = options.deltas === false ? { baseOnly: true } : {};
  if (options.snapshot !== undefined) return { snapshotId: options.snapshot, ...baseOnly };
  return options.ref === undefined ? baseOnly : { ref: options.ref, ...baseOnly };
}

function changesSince(text: string): { sinceEpoch: number } | { sinceLsn: string } {
  if (/^\d{1,15}$/.test(text)) return { sinceEpoch: Number(text) };
  if (tryParseLsn(text) !== undefined) return { sinceLsn: text };
  throw usage(
    `--changes-since ${JSON.stringify(text)} is neither an epoch nor an LSN`,
    'e.g. --changes-since 0 (the snapshot) or --changes-since 0/16B3748',
  );
}

/** Flags that do not go together, as `[when, clashing flags, what to do]`. */
function checkCombination(options: QueryOptions): void {
  const given = (flags: Record<string, unknown>): string[] =>
    Object.entries(flags).flatMap(([flag, value]) => (value === undefined ? [] : [flag]));
  const rules: [boolean, string[], string, string][] = [
    [
      options.sql !== undefined,
      given({
        '-t': options.table,
        '-c': options.columns,
        '-w': options.where,
        '--changes-since': options.changesSince,
      }),
      '--sql cannot be combined with',
      'put the table, columns and conditions in the SQL',
    ],
    [
      options.sql === undefined && options.table === undefined,
      given({
        '-c': options.columns,
        '-w': options.where,
        '--ref': options.ref,
        '--snapshot': options.snapshot,
        '--changes-since': options.changesSince,
        '--no-deltas': options.deltas === false ? true : undefined,
      }),
      'a table is needed for',
      'add -t <schema.table>, or --sql',
    ],
    [
      options.changesSince !== undefined,
      given({
        '-w': options.where,
        '--ref': options.ref,
        '--snapshot': options.snapshot,
        '--no-deltas': options.deltas === false ? true : undefined,
      }),
      '--changes-since cannot be combined with',
      'it reads the changelog as it is now, in commit order',
    ],
  ];
  for (const [applies, clash, message, hint] of rules) {
    if (applies && clash.length > 0) throw usage(`${message} ${clash.join(', ')}`, hint);
  }
}

/** -c lists, split at commas unless a whole list is the name of a visible column (names may hold commas). */
async function columnsOf(
  engine: QueryEngine,
  principal: string,
  table: string,
  lists: readonly string[] | undefined,
): Promise<string[] | undefined> {
  if (!lists) return undefined;
  const whole = lists.some((list) => list.includes(','))
    ? new Set((await engine.describeTable(principal, table)).columnsDetail.map((c) => c.name))
    : new Set<string>();
  return lists.flatMap((list) =>
    whole.has(list) ? [list] : list.split(',').map((c) => (whole.has(c) ? c : c.trim())),
  );
}

const rowsOf = (result: QueryResult): string[] => result.columns.map((c) => c.name);

/** What `pg-cdc query` prints: the role's tables, the rows of one, the result of one SELECT, or changes. */
export async function queryLake(context: CommandContext, options: QueryOptions): Promise<string> {
  checkCombination(options);
  if (!/^[1-9]\d{0,15}$/.test(options.limit)) {
    throw usage(`-n ${JSON.stringify(options.limit)} is not a positive integer`, 'e.g. -n 10 (default 100)');
  }
  const limit = Number(options.limit);
  const policy = openAccessPolicy(context.config);
  let engine: QueryEngine | undefined;
  try {
    const principal = principalOf(options, policy.principals());
    engine = createQueryEngine({ config: context.config, policy, log: context.log });
    if (options.sql !== undefined) {
      const result = await engine.query(principal, { kind: 'sql', sql: options.sql, limit }, readAt(options));
      return render(rowsOf(result), result.rows, options.format);
    }
    if (options.table === undefined) {
      const tables = await engine.listTables(principal);
      const rows = tables.map((t) => [t.table, t.rowCount, t.snapshotId, t.committedLsn, t.epoch]);
      return render(['table', 'rows', 'snapshot_id', 'lsn', 'epoch'], rows, options.format);
    }
    const columns = await columnsOf(engine, principal, options.table, options.columns);
    if (options.changesSince !== undefined) {
      const since = changesSince(options.changesSince);
      const result = await engine.changes(principal, {
        table: options.table,
        ...since,
        ...(columns ? { columns } : {}),
        limit,
      });
      return render(rowsOf(result), result.rows, options.format);
    }
    const result = await engine.query(
      principal,
      { kind: 'structured', table: options.table, ...(columns ? { columns } : {}), where: options.where ?? [], limit },
      readAt(options),
    );
    return render(rowsOf(result), result.rows, options.format);
  } finally {
    await engine?.close();
    await policy.close();
  }
}

export function registerQuery(program: Command): void {
  const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
  program
    .command('query')
    .description('read the lake as a role: list its tables, rows of one (-t), one SELECT (--sql), or changes')
    .option('--role <principal>', `the role to read as (default: $${ROLE_ENV}; required)`)
    .option('-t, --table <schema.table>', "the table to read; without it (and --sql), the role's tables are listed")
    .option('-c, --columns <columns>', 'comma-separated columns to show (repeatable; default all visible)', collect)
    .option('-w, --where <col:op:value>', `filter (repeatable, all must hold): ${FILTER_SYNTAX}`, collect)
    .option('--sql <statement>', 'one SELECT over the role\'s tables, named "schema"."table"')
    .option('--ref <name|snapshot-id>', 'read at this ref (main, a tag) or snapshot id instead of the current one')
    .option('--snapshot <id>', 'read this snapshot id (same as --ref <id>)')
    .option('--no-deltas', 'read the last base (the snapshot or the last compaction), without the epochs after it')
    .option('--changes-since <epoch|lsn>', 'with -t: the changelog after this epoch (0 = the snapshot) or commit LSN')
    .option('-n, --limit <n>', 'at most this many rows (up to serve.query.row_limit)', '100')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json', 'csv']).default('table'))
    .action(async (options: QueryOptions) => {
      const context = await loadContext(program.opts<GlobalOptions>());
      process.stdout.write(await queryLake(context, options));
    });
}
