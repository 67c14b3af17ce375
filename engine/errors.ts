/**
 * The engine's errors. What a caller reads must not name anything it may not see, so nothing here ever carries
 * DuckDB's own text (it can name files, view bodies and candidate columns): DuckDB failures are classified and
 * rewritten, echoing at most a value the caller wrote itself.
 */
import { PgCdcError, type PgCdcErrorOptions } from '../core/errors/index.js';
import { didYouMean } from '../core/config/suggest.js';

export class EngineError extends PgCdcError {}

const list = (names: readonly string[], max = 20): string =>
  names.length > max ? `${names.slice(0, max).join(', ')}, ...` : names.join(', ');

export function invalid(message: string, hint: string, options: Omit<PgCdcErrorOptions, 'hint'> = {}): EngineError {
  return new EngineError('QUERY_INVALID', message, { ...options, hint });
}

/** The same answer for a table that does not exist and one the principal may not see. */
export function tableNotFound(table: string, visible: readonly string[]): EngineError {
  const byName = visible.filter((t) => t.slice(t.indexOf('.') + 1) === table);
  const suggestion = byName.length === 1 ? `did you mean "${byName[0]}"? ` : didYouMean(table, visible);
  return new EngineError('TABLE_NOT_FOUND', `table ${JSON.stringify(table)} is not in the lake`, {
    context: { table },
    hint: visible.length
      ? `${suggestion ? `${suggestion} ` : ''}tables you can read: ${list(visible, 10)}`
      : 'you can read no table: ask for a role that is granted some, or run `pg-cdc init` if the lake is empty',
  });
}

export function columnNotFound(column: string, table: string, visible: readonly string[], where = ''): EngineError {
  const suggestion = didYouMean(column, visible);
  return new EngineError('COLUMN_NOT_FOUND', `${where}column ${JSON.stringify(column)} is not in ${table}`, {
    context: { table, column },
    hint: `${suggestion ? `${suggestion} ` : ''}the columns of ${table} are: ${list(visible, 50)}`,
  });
}

export function refNotFound(ref: string, table: string, refs: readonly string[]): EngineError {
  return new EngineError('REF_NOT_FOUND', `${table} has no ref or snapshot ${JSON.stringify(ref)}`, {
    context: { table, ref },
    hint: refs.length
      ? `its refs are: ${list(refs)}; a snapshot id is the decimal number \`pg-cdc query\` lists`
      : 'the table has no refs yet; pass a snapshot id or leave the ref out to read the current snapshot',
  });
}

/** `raw@<time>` before every raw tag the table keeps (promotion.raw_tags prunes them). */
export function rawTagNotFound(ref: string, table: string, oldest: string | undefined): EngineError {
  return new EngineError('REF_NOT_FOUND', `${table} has no raw tag at or before ${ref.slice(4)}`, {
    context: { table, ref },
    hint: oldest
      ? `the oldest raw tag kept is ${oldest} (promotion.raw_tags sets how many stay, and for how long)`
      : 'the table has no raw tags: each epoch adds one unless promotion.raw_tags.keep is 0',
  });
}

/**
 * A snapshot id the table does not have: never written, or expired by compaction (which keeps the newest
 * `compaction.retain_snapshots` and every ref). The hint names the oldest snapshot that can still be read.
 */
export function snapshotNotFound(
  snapshotId: string,
  table: string,
  snapshots: readonly { readonly 'snapshot-id': bigint; readonly 'timestamp-ms': number }[],
): EngineError {
  const oldest = snapshots.reduce<(typeof snapshots)[number] | undefined>(
    (found, s) => (found === undefined || s['timestamp-ms'] < found['timestamp-ms'] ? s : found),
    undefined,
  );
  const recent = snapshots.slice(-5).map((s) => String(s['snapshot-id']));
  return new EngineError('SNAPSHOT_NOT_FOUND', `${table} has no snapshot ${snapshotId}`, {
    context: { table, snapshot: snapshotId },
    hint: oldest
      ? `it may have expired (compaction keeps the newest compaction.retain_snapshots and every ref): the oldest ` +
        `readable snapshot is ${oldest['snapshot-id']} of ${new Date(oldest['timestamp-ms']).toISOString()}; the ` +
        `latest are: ${list(recent, 5)}`
      : 'the table has no snapshot yet',
  });
}

export function notAvailable(message: string, hint: string): EngineError {
  return new EngineError('NOT_AVAILABLE', message, { hint });
}

const TYPE_PREFIX = /^([A-Za-z][A-Za-z ]*?) Error: /;

/** DuckDB's error class (`Binder`, `Conversion`, `INTERRUPT` ...), or undefined for a non-DuckDB error. */
export function duckdbErrorKind(error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : '';
  return TYPE_PREFIX.exec(message)?.[1]?.toLowerCase();
}

/** Whether `text` occurs in `written` as a whole token (not inside a longer name). */
function mentions(written: string, text: string): boolean {
  const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?<![\\p{L}\\p{N}_])${escaped}(?![\\p{L}\\p{N}_])`, 'u').test(written);
}

/**
 * A DuckDB failure of the caller's query, rewritten. `userText` is everything the caller wrote (SQL, filter values):
 * a quoted value or name from DuckDB's message is repeated only when it appears there verbatim, so the rewrite can
 * echo the caller's own typo or value but never a name the engine alone knows.
 */
export function queryFailed(error: unknown, userText: readonly string[], timeoutMs: number): EngineError {
  const kind = duckdbErrorKind(error) ?? 'unknown';
  const message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : '';
  const echo = (text: string | undefined): string | undefined =>
    text !== undefined && text.length > 0 && userText.some((u) => mentions(u, text)) ? text : undefined;
  if (kind === 'interrupt') {
    return new EngineError('QUERY_TIMEOUT', `the query ran longer than ${timeoutMs} ms and was stopped`, {
      hint: 'narrow it: filter, aggregate or select fewer rows (serve.query.timeout_ms sets the limit)',
      cause: error,
    });
  }
  if (kind === 'conversion' || kind === 'invalid input' || kind === 'out of range') {
    const value = /Could not convert string '(.*)' to ([A-Z0-9_]+)/.exec(message);
    const shown = echo(value?.[1]);
    return new EngineError(
      'QUERY_FAILED',
      shown !== undefined && value
        ? `Could not convert string '${shown}' to ${value[2]}`
        : 'a value in the query does not convert to the type it is compared with or cast to',
      {
        hint: 'a filter value must convert to the column type (a number for a numeric column, a date for a date)',
        cause: error,
      },
    );
  }
  if (kind === 'binder' || kind === 'catalog') {
    // "Table "p" does not have a column named "email"": the column is the interesting name, not the alias.
    const quoted = /column named "([^"]+)"/.exec(message) ?? /Referenced column "([^"]+)"/.exec(message);
    const name = echo((quoted ?? /"([^"]+)"/.exec(message))?.[1]);
    return new EngineError(
      'QUERY_INVALID',
      name !== undefined
        ? `the query does not bind: ${JSON.stringify(name)} is not a column, table or function you can use there`
        : 'the query does not bind: it names a column, table, function or type you cannot use there',
      { hint: 'describe the table for its columns; qualify columns that two tables share', cause: error },
    );
  }
  if (kind === 'parser' || kind === 'syntax') {
    return new EngineError('QUERY_INVALID', 'the query is not valid SQL', {
      hint: 'write one SELECT over "schema"."table"',
      cause: error,
    });
  }
  if (kind === 'out of memory') {
    return new EngineError('QUERY_FAILED', 'the query needs more memory than a request may use', {
      hint: 'aggregate or filter before sorting or joining large tables',
      cause: error,
    });
  }
  return new EngineError('QUERY_FAILED', 'the query failed while it ran', {
    hint: 'check the values and types it uses; the server log has the details',
    cause: error,
  });
}
