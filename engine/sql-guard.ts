/**
 * Which SQL a caller may run: DuckDB's own parser (json_serialize_sql) turns the text into a tree, and sql-tree.ts
 * walks it. What passes is exactly one SELECT whose table references are `"schema"."table"` pairs (the caller's
 * views, checked by the engine) or CTE names in scope. Comments never reach the tree, so they cannot carry
 * anything past it.
 */
import { VARCHAR, type DuckDBConnection } from '@duckdb/node-api';
import { invalid } from './errors.js';
import { refuse, SQL_HINT as HINT, Walker, type TableReference } from './sql-tree.js';

export type { TableReference } from './sql-tree.js';

export const MAX_SQL_LENGTH = 100_000;

const SYNTAX_ERROR = /^(syntax error at (?:end of input|or near "[^"\n]*"))/;

/**
 * Parses `sql` with DuckDB (the text travels as a bound parameter) and returns its table references, or throws
 * QUERY_INVALID saying why the statement is refused.
 */
export async function checkSql(parser: DuckDBConnection, sql: string): Promise<TableReference[]> {
  if (typeof sql !== 'string' || sql.trim() === '') throw invalid('the SQL is empty', HINT);
  if (sql.length > MAX_SQL_LENGTH) throw invalid(`the SQL is longer than ${MAX_SQL_LENGTH} characters`, HINT);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(sql)) throw refuse('it holds control characters');
  const reader = await parser.runAndReadAll('SELECT json_serialize_sql($1::VARCHAR)', [sql], [VARCHAR]);
  const text = reader.getRows()[0]?.[0];
  let tree: Record<string, unknown>;
  try {
    tree = JSON.parse(String(text)) as Record<string, unknown>;
  } catch {
    throw refuse('DuckDB could not describe it');
  }
  if (tree.error === true) {
    const message = typeof tree.error_message === 'string' ? tree.error_message : '';
    if (/Only SELECT statements/i.test(message)) throw refuse('only a single SELECT statement is accepted');
    const syntax = SYNTAX_ERROR.exec(message)?.[1];
    throw invalid(`the SQL does not parse${syntax ? `: ${syntax}` : ''}`, HINT);
  }
  const statements = tree.statements;
  if (!Array.isArray(statements) || statements.length !== 1) {
    throw refuse(`exactly one statement is accepted (found ${Array.isArray(statements) ? statements.length : 0})`);
  }
  const walker = new Walker();
  try {
    walker.statement(statements[0], new Set());
  } catch (error) {
    if (error instanceof RangeError) throw refuse('it is nested too deeply');
    throw error;
  }
  return walker.tables;
}
