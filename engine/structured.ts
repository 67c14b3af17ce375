/**
 * Structured queries: columns, `col:op:value` filters and a limit, turned into SQL the engine writes itself. Column
 * names come only from the visible schema and every value is a bound parameter, so nothing a caller writes is
 * ever SQL text.
 */
import { BIGINT, VARCHAR, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import { columnNotFound, invalid } from './errors.js';
import { quoteIdent, type Statement } from './session.js';
import { FILTER_OPS, type Filter, type FilterOp } from './types.js';

const SQL_OPS: Readonly<Record<FilterOp, string>> = {
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
};
const UNARY: ReadonlySet<FilterOp> = new Set(['isnull', 'notnull']);
const isOp = (text: string): text is FilterOp => (FILTER_OPS as readonly string[]).includes(text);
const MAX_VALUE_LENGTH = 10_000;
const MAX_FILTERS = 64;

export const FILTER_SYNTAX = `col:op:value (col:isnull, col:notnull take no value); ops: ${FILTER_OPS.join(', ')}`;

const malformed = (raw: string, reason: string) =>
  invalid(`filter ${JSON.stringify(raw)} is malformed: ${reason}`, `the syntax is ${FILTER_SYNTAX}`);

/** `col:op[:value]`; a column may itself hold ':' (the longest visible column name that fits wins). */
export function parseWhere(raw: string, table: string, columns: readonly string[]): Filter {
  const split = (rest: string): { op: string; value?: string } => {
    const colon = rest.indexOf(':');
    return colon < 0 ? { op: rest } : { op: rest.slice(0, colon), value: rest.slice(colon + 1) };
  };
  for (const column of [...columns].sort((a, b) => b.length - a.length)) {
    if (!raw.startsWith(`${column}:`)) continue;
    const { op, value } = split(raw.slice(column.length + 1));
    if (!isOp(op)) continue;
    if (UNARY.has(op) && value !== undefined) throw malformed(raw, `${op} takes no value`);
    if (!UNARY.has(op) && value === undefined) throw malformed(raw, `${op} needs a value after a second ':'`);
    return value === undefined ? { column, op } : { column, op, value };
  }
  const first = raw.indexOf(':');
  if (first <= 0) throw malformed(raw, 'expected a column, an operator and a value separated by ":"');
  const { op } = split(raw.slice(first + 1));
  if (!isOp(op)) throw malformed(raw, op ? `unknown operator ${JSON.stringify(op)}` : 'the operator is missing');
  throw columnNotFound(raw.slice(0, first), table, columns, 'filter: ');
}

/** A requested limit within 1 … cap; the cap itself when none is given. */
export function checkLimit(limit: unknown, cap: number): number {
  if (limit === undefined) return cap;
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) {
    const shown = typeof limit === 'number' ? String(limit) : JSON.stringify(limit);
    throw invalid(`limit ${shown} is not a positive integer`, `ask for 1 to ${cap} rows`);
  }
  if (limit > cap) {
    throw invalid(`limit ${limit} is above the row limit of ${cap}`, `ask for at most ${cap} rows`);
  }
  return limit;
}

function checkFilter(filter: Filter, table: string, columns: readonly string[]): Filter {
  if (typeof filter.column !== 'string' || !columns.includes(filter.column)) {
    throw columnNotFound(String(filter.column), table, columns, 'filter: ');
  }
  if (!isOp(String(filter.op))) {
    throw invalid(`filter operator ${JSON.stringify(filter.op)} is unknown`, `the syntax is ${FILTER_SYNTAX}`);
  }
  const unary = UNARY.has(filter.op);
  if (unary && filter.value !== undefined)
    throw malformed(`${filter.column}:${filter.op}`, `${filter.op} takes no value`);
  if (!unary && typeof filter.value !== 'string') {
    throw malformed(`${filter.column}:${filter.op}`, `${filter.op} needs a text value`);
  }
  if (!unary && filter.value!.length > MAX_VALUE_LENGTH) {
    throw invalid(`a filter value is longer than ${MAX_VALUE_LENGTH} characters`, 'filter on a shorter value');
  }
  return filter;
}

export interface StructuredPlan {
  readonly schema: string;
  readonly name: string;
  /** The table as the caller named it, for messages. */
  readonly table: string;
  readonly visible: readonly string[];
  readonly columns?: readonly string[];
  readonly filters: readonly Filter[];
  /** Extra conditions the engine adds, over bound values (the changes window). */
  readonly conditions?: readonly { readonly sql: string; readonly value: DuckDBValue; readonly type: DuckDBType }[];
  readonly orderBy: readonly string[];
  readonly limit: number;
}

/** The SELECT for a structured read; asks for one row more than the limit, to tell whether it cut anything. */
export function structuredStatement(plan: StructuredPlan): Statement {
  const { table, visible } = plan;
  const shown = plan.columns ?? visible;
  if (shown.length === 0) throw invalid('no columns were asked for', 'name at least one column, or none for all');
  for (const column of shown) {
    if (typeof column !== 'string' || !visible.includes(column)) throw columnNotFound(String(column), table, visible);
  }
  if (plan.filters.length > MAX_FILTERS) throw invalid(`more than ${MAX_FILTERS} filters`, 'combine fewer filters');
  const values: DuckDBValue[] = [];
  const types: DuckDBType[] = [];
  const bind = (value: DuckDBValue, type: DuckDBType): string => {
    values.push(value);
    types.push(type);
    return `$${values.length}`;
  };
  const where = plan.filters.map((raw) => {
    const filter = checkFilter(raw, table, visible);
    const column = quoteIdent(filter.column);
    if (filter.value === undefined) return `${column} ${SQL_OPS[filter.op]}`;
    const text = filter.op === 'like' || filter.op === 'ilike' ? `CAST(${column} AS VARCHAR)` : column;
    return `${text} ${SQL_OPS[filter.op]} ${bind(filter.value, VARCHAR)}`;
  });
  for (const condition of plan.conditions ?? [])
    where.push(condition.sql.replace('?', bind(condition.value, condition.type)));
  const order = plan.orderBy.filter((c) => visible.includes(c)).map(quoteIdent);
  const sql =
    `SELECT ${shown.map(quoteIdent).join(', ')} FROM ${quoteIdent(plan.schema)}.${quoteIdent(plan.name)}` +
    (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
    (order.length ? ` ORDER BY ${order.join(', ')}` : '') +
    ` LIMIT ${bind(BigInt(plan.limit + 1), BIGINT)}`;
  const userText = plan.filters.flatMap((f) => (typeof f.value === 'string' ? [f.value] : []));
  return { sql, values, types, userText };
}
