/**
 * The session settings every connection that reads row values for the lake must use: the snapshot's COPY and the
 * replication connection alike. The type mapping parses PostgreSQL's text output, and these settings are what make
 * that text one fixed, locale-free format (pgoutput sends values formatted under the walsender's settings, so the
 * replication connection passes the same ones as startup options).
 */
export const SOURCE_SESSION_SETTINGS: Readonly<Record<string, string>> = Object.freeze({
  client_encoding: 'UTF8',
  // timestamptz as `2026-03-29 00:30:00+00`: the instant in UTC, never a local zone or an LMT offset.
  TimeZone: 'UTC',
  DateStyle: 'ISO, YMD',
  // `1 year 2 mons 3 days 04:05:06`: the server default, so values match what psql shows and what a walsender with
  // default settings sends.
  IntervalStyle: 'postgres',
  // Shortest text that reads back to the same float bit for bit.
  extra_float_digits: '3',
  bytea_output: 'hex',
  // money's text form follows lc_monetary; C gives `$1,234.56` everywhere.
  lc_monetary: 'C',
});

const literal = (value: string): string => `'${value.replace(/'/g, "''")}'`;

/** One `SET [LOCAL] name = 'value'` statement per setting; LOCAL ones end with the transaction. */
export function sourceSessionStatements(scope: 'session' | 'local' = 'session'): string[] {
  const set = scope === 'local' ? 'SET LOCAL' : 'SET';
  return Object.entries(SOURCE_SESSION_SETTINGS).map(([name, value]) => `${set} ${name} = ${literal(value)}`);
}

/** All of sourceSessionStatements() as one simple-query string. */
export const sourceSessionSql = (scope: 'session' | 'local' = 'session'): string =>
  sourceSessionStatements(scope).join('; ');

/** The same settings as a libpq `options` startup parameter (`-c name=value ...`), for replication connections. */
export function sourceSessionOptions(): string {
  return Object.entries(SOURCE_SESSION_SETTINGS)
    .map(([name, value]) => `-c ${name}=${value.replace(/[\s\\]/g, (c) => `\\${c}`)}`)
    .join(' ');
}
