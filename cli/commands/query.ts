import { resolve } from 'node:path';
import {
  BIGINT,
  DuckDBTypeId,
  LIST,
  VARCHAR,
  listValue,
  type DuckDBConnection,
  type DuckDBType,
  type DuckDBValue,
  type Json,
} from '@duckdb/node-api';
import { Option, type Command } from 'commander';
import { didYouMean } from '../../core/config/suggest.js';
import { PgCdcError } from '../../core/errors/index.js';
import { LocalCatalog } from '../../lake/catalog/local.js';
import { currentSnapshot } from '../../lake/iceberg/metadata.js';
import type { IcebergField } from '../../lake/iceberg/schema.js';
import { loadTableMetadata } from '../../lake/iceberg/table.js';
import { openDuckDB } from '../../lake/parquet/writer.js';
import { currentDataFiles } from '../../lake/reader.js';
import { createObjectStore } from '../../lake/storage/index.js';
import { loadContext, type CommandContext, type GlobalOptions } from '../context.js';

const OPS = {
  eq: '=',
  ne: '<>',
  gt: '>',
  gte: '>=',
  lt: '<',
  lte: '<=',
  like: 'LIKE',
  ilike: 'ILIKE',
  isnull: 'IS NULL',
  notnull: 'IS NOT NULL',
} as const;
type Op = keyof typeof OPS;
const isOp = (text: string): text is Op => Object.hasOwn(OPS, text);
const UNARY: ReadonlySet<Op> = new Set(['isnull', 'notnull']);
const SYNTAX = `-w col:op:value (col:isnull, col:notnull take no value); ops: ${Object.keys(OPS).join(', ')}`;

type Format = 'table' | 'json' | 'csv';
export interface Filter {
  readonly field: IcebergField;
  readonly op: Op;
  readonly value?: string;
}

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const malformed = (raw: string, reason: string): PgCdcError =>
  new PgCdcError('QUERY_INVALID', `-w ${JSON.stringify(raw)} is malformed: ${reason}`, {
    hint: `the syntax is ${SYNTAX}`,
  });

function unknownColumn(name: string, flag: string, table: string, fields: readonly IcebergField[]): PgCdcError {
  const names = fields.map((f) => f.name);
  const suggestion = didYouMean(name, names);
  return new PgCdcError('COLUMN_NOT_FOUND', `${flag}: column ${JSON.stringify(name)} is not in ${table}`, {
    context: { table, column: name },
    hint: `${suggestion ? `${suggestion} ` : ''}the columns of ${table} are: ${names.join(', ')}`,
  });
}

/** `col:op[:value]`; the column may itself contain ':' (the longest column name that makes sense wins). */
export function parseFilter(raw: string, table: string, fields: readonly IcebergField[]): Filter {
  const split = (rest: string): { op: string; value?: string } => {
    const colon = rest.indexOf(':');
    return colon < 0 ? { op: rest } : { op: rest.slice(0, colon), value: rest.slice(colon + 1) };
  };
  const build = (field: IcebergField, op: Op, value: string | undefined): Filter => {
    if (UNARY.has(op) && value !== undefined) throw malformed(raw, `${op} takes no value`);
    if (!UNARY.has(op) && value === undefined) throw malformed(raw, `${op} needs a value after a second ':'`);
    return value === undefined ? { field, op } : { field, op, value };
  };
  const candidates = [...fields].sort((a, b) => b.name.length - a.name.length);
  for (const field of candidates) {
    if (!raw.startsWith(`${field.name}:`)) continue;
    const { op, value } = split(raw.slice(field.name.length + 1));
    if (isOp(op)) return build(field, op, value);
  }
  const first = raw.indexOf(':');
  if (first <= 0) throw malformed(raw, 'expected a column, an operator and a value separated by ":"');
  const { op } = split(raw.slice(first + 1));
  if (!isOp(op)) throw malformed(raw, op ? `unknown operator ${JSON.stringify(op)}` : 'the operator is missing');
  throw unknownColumn(raw.slice(0, first), '-w', table, fields);
}

function parseColumns(lists: readonly string[], table: string, fields: readonly IcebergField[]): IcebergField[] {
  const byName = new Map(fields.map((f) => [f.name, f]));
  return lists.flatMap((list) =>
    (byName.has(list) ? [list] : list.split(',')).map((part) => {
      const field = byName.get(part) ?? byName.get(part.trim());
      if (!field) throw unknownColumn(part.trim(), '-s', table, fields);
      return field;
    }),
  );
}

/** The Parquet column of every top-level field id, the same in every file (or an error). */
async function parquetNames(connection: DuckDBConnection, files: readonly string[]): Promise<Map<number, string>> {
  const reader = await connection.runAndReadAll(
    'SELECT file_name, name, field_id::INTEGER FROM parquet_schema($1) WHERE field_id IS NOT NULL',
    [listValue([...files])],
    [LIST(VARCHAR)],
  );
  const perFile = new Map<string, Map<number, string>>();
  for (const [file, name, id] of reader.getRowsJson() as [string, string, number][]) {
    const names = perFile.get(file) ?? new Map<number, string>();
    perFile.set(file, names.set(id, name));
  }
  const layouts = new Set([...perFile.values()].map((m) => JSON.stringify([...m].sort((a, b) => a[0] - b[0]))));
  if (layouts.size > 1) {
    throw new PgCdcError('NOT_AVAILABLE', 'the data files of this snapshot use different Parquet layouts', {
      hint: 'reading tables whose files were written with different schemas is not available in this version',
    });
  }
  return perFile.values().next().value ?? new Map<number, string>();
}

/** JSON-safe values: 64-bit integers become numbers when exact, else stay decimal strings. */
function readRows(reader: { getRowsJson(): Json[][]; columnTypeId(i: number): DuckDBTypeId }, width: number): Json[][] {
  const wide = new Set([DuckDBTypeId.BIGINT, DuckDBTypeId.UBIGINT, DuckDBTypeId.HUGEINT, DuckDBTypeId.UHUGEINT]);
  const convert = Array.from({ length: width }, (_, i) => wide.has(reader.columnTypeId(i)));
  return reader.getRowsJson().map((row) =>
    row.map((value, i) => {
      if (!convert[i] || typeof value !== 'string') return value;
      const n = Number(value);
      return Number.isSafeInteger(n) ? n : value;
    }),
  );
}

const text = (value: Json): string => (value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value));

const csvField = (value: Json): string => {
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

export function render(columns: readonly string[], rows: readonly Json[][], format: Format): string {
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
  snapshot?: string;
}

async function listTables(
  catalog: LocalCatalog,
  store: ReturnType<typeof createObjectStore>,
  format: Format,
): Promise<string> {
  const rows: Json[][] = [];
  for (const identifier of await catalog.listTables()) {
    const snapshot = currentSnapshot((await loadTableMetadata(store, catalog, identifier)).metadata);
    const summary = snapshot?.summary;
    const records = summary?.['total-records'];
    rows.push([
      identifier,
      records === undefined ? 0 : Number(records),
      snapshot ? String(snapshot['snapshot-id']) : null,
      summary?.['pgcdc.lsn'] ?? null,
    ]);
  }
  return render(['table', 'rows', 'snapshot_id', 'lsn'], rows, format);
}

function tableNotFound(table: string, tables: readonly string[]): PgCdcError {
  const byName = tables.filter((t) => t.slice(t.indexOf('.') + 1) === table);
  const suggestion = byName.length === 1 ? `did you mean "${byName[0]}"?` : didYouMean(table, tables);
  const listed = tables.length > 10 ? `${tables.slice(0, 10).join(', ')}, ...` : tables.join(', ');
  return new PgCdcError('TABLE_NOT_FOUND', `table ${JSON.stringify(table)} is not in the lake`, {
    context: { table },
    hint: tables.length
      ? `${suggestion ? `${suggestion} ` : ''}tables in the lake: ${listed} (\`pg-cdc query\` lists them)`
      : 'the lake has no tables yet: run `pg-cdc init`',
  });
}

export function registerQuery(program: Command): void {
  const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
  program
    .command('query')
    .description('list the lake tables, or read rows of one (-t) at its current or a given snapshot')
    .option('-t, --table <schema.table>', 'the table to read; without it, the tables are listed')
    .option('-c, --columns <columns>', 'comma-separated columns to show (repeatable; default all)', collect)
    .option('-w, --where <col:op:value>', `filter (repeatable, all must hold): ${SYNTAX}`, collect)
    .option('-n, --limit <n>', 'at most this many rows', '100')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json', 'csv']).default('table'))
    .option('--snapshot <id>', 'read this snapshot instead of the current one')
    .action(async (options: QueryOptions) => {
      const context = await loadContext(program.opts<GlobalOptions>());
      process.stdout.write(await queryLake(context, options));
    });
}

/** What `pg-cdc query` prints: the table list, or the rows of one table read through DuckDB. */
export async function queryLake(context: CommandContext, options: QueryOptions): Promise<string> {
  const { storage } = context.config;
  const store = createObjectStore(storage);
  const catalog = new LocalCatalog(store);
  if (!options.table) {
    if (options.columns || options.where || options.snapshot) {
      throw new PgCdcError('QUERY_INVALID', '-c, -w and --snapshot need a table', {
        hint: 'add -t <schema.table>',
      });
    }
    return listTables(catalog, store, options.format);
  }
  if (!/^[1-9]\d{0,15}$/.test(options.limit)) {
    throw new PgCdcError('QUERY_INVALID', `-n ${JSON.stringify(options.limit)} is not a positive integer`, {
      hint: 'e.g. -n 10 (default 100)',
    });
  }
  if (options.snapshot !== undefined && !/^\d{1,19}$/.test(options.snapshot)) {
    throw new PgCdcError('QUERY_INVALID', `--snapshot ${JSON.stringify(options.snapshot)} is not a snapshot id`, {
      hint: 'snapshot ids are the decimal numbers `pg-cdc query` and `pg-cdc status` print',
    });
  }
  const table = options.table;
  const tables = await catalog.listTables();
  if (!tables.includes(table)) throw tableNotFound(table, tables);
  const snapshotId = options.snapshot === undefined ? undefined : BigInt(options.snapshot);
  const files = await currentDataFiles(store, catalog, table, snapshotId === undefined ? {} : { snapshotId });
  const fields = files.schema.fields;
  const shown = options.columns ? parseColumns(options.columns, table, fields) : [...fields];
  const filters = (options.where ?? []).map((raw) => parseFilter(raw, table, fields));
  const columns = shown.map((f) => f.name);
  if (files.deleteFiles.length > 0) {
    throw new PgCdcError('NOT_AVAILABLE', `${table} has delete files at this snapshot`, {
      context: { table, deleteFiles: files.deleteFiles.length },
      hint: 'applying delete files is not available in this version; use an Iceberg reader (PyIceberg, DuckDB)',
    });
  }
  if (files.dataFiles.length === 0) return render(columns, [], options.format);
  const paths = files.dataFiles.map((file) => {
    if (file.localPath) return file.localPath;
    throw new PgCdcError('NOT_AVAILABLE', `data file ${file.path} is outside the lake`, { context: { table } });
  });
  const lakeRoot = storage.type === 'filesystem' ? resolve(storage.path) : '';
  const duck = await openDuckDB({ allowedDirectories: [lakeRoot] });
  try {
    const names = await parquetNames(duck.connection, paths);
    const ref = (field: IcebergField): string => {
      const name = names.get(field.id);
      return name === undefined ? 'NULL' : quoteIdent(name);
    };
    // Every value is a bound parameter: the file list, each -w value and the limit.
    const values: DuckDBValue[] = [listValue(paths)];
    const types: DuckDBType[] = [LIST(VARCHAR)];
    const where = filters.map(({ field, op, value }) => {
      if (value === undefined) return `${ref(field)} ${OPS[op]}`;
      values.push(value);
      types.push(VARCHAR);
      const column = op === 'like' || op === 'ilike' ? `CAST(${ref(field)} AS VARCHAR)` : ref(field);
      return `${column} ${OPS[op]} $${values.length}`;
    });
    const keys = (files.schema['identifier-field-ids'] ?? []).map((id) => fields.find((f) => f.id === id));
    const order = keys.every((f) => f && names.has(f.id)) ? keys.map((f) => ref(f!)) : [];
    values.push(BigInt(options.limit));
    types.push(BIGINT);
    const sql =
      `SELECT ${shown.map((f) => `${ref(f)} AS ${quoteIdent(f.name)}`).join(', ')} FROM read_parquet($1)` +
      (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
      (order.length ? ` ORDER BY ${order.join(', ')}` : '') +
      ` LIMIT $${values.length}`;
    context.log.debug({ sql, table }, 'query');
    const reader = await duck.connection.runAndReadAll(sql, values, types).catch((error) => {
      const reason = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
      throw new PgCdcError('QUERY_FAILED', `reading ${table} failed: ${reason}`, {
        context: { table },
        hint: 'a -w value must convert to the column type (a number for a numeric column, a date for a date)',
        cause: error,
      });
    });
    return render(columns, readRows(reader, columns.length), options.format);
  } finally {
    duck.close();
  }
}
