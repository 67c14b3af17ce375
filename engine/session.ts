/**
 * One request's DuckDB: an in-memory database where the only objects are the caller's views, external access off,
 * file access limited to the lake (its directory, or its bucket and prefix through httpfs with a secret scoped to
 * them), configuration locked. The caller's statement runs prepared (DuckDB
 * refuses to prepare more than one statement), streamed, stopped after the row cap, and interrupted at the timeout.
 */
import { StatementType, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import { openDuckDB, type OpenDuckDB } from '../lake/parquet/writer.js';
import { liveRowsSql } from '../lake/scan.js';
import type { IcebergField } from '../core/types/iceberg.js';
import { isPgCdcError } from '../core/errors/index.js';
import { EngineError, notAvailable, queryFailed } from './errors.js';
import type { ObjectStore } from '../lake/storage/index.js';
import type { ResolvedFiles } from './lake.js';
import { duckdbType, readRows, type ReadRows } from './values.js';

export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

export interface ViewSpec {
  readonly schema: string;
  readonly name: string;
  readonly fields: readonly IcebergField[];
  readonly resolved: ResolvedFiles;
}

/**
 * The body of a view: the visible fields over the live rows (position deletes applied), each Parquet column by
 * its field id and named as in the current schema; a field the files lack is a typed NULL. With no data file,
 * a typed empty relation, so an empty table still has its columns.
 */
export function viewSql(view: ViewSpec): string {
  const { files, parquetNames } = view.resolved;
  const typedNull = (f: IcebergField): string => `CAST(NULL AS ${duckdbType(f.type)}) AS ${quoteIdent(f.name)}`;
  if (files.dataFiles.length === 0) return `SELECT ${view.fields.map(typedNull).join(', ')} WHERE false`;
  const select = view.fields
    .map((f) => {
      const name = parquetNames.get(f.id);
      return name === undefined ? typedNull(f) : `d.${quoteIdent(name)} AS ${quoteIdent(f.name)}`;
    })
    .join(', ');
  let sql: string | undefined;
  try {
    sql = liveRowsSql(files, { select });
  } catch (error) {
    // The scan's own errors name file paths; the caller learns what is wrong, not where.
    if (isPgCdcError(error) && error.code === 'EQUALITY_DELETES') {
      throw notAvailable(`${files.identifier} has equality deletes, which the engine does not read`, error.hint ?? '');
    }
    throw notAvailable(
      `the files of ${files.identifier} are not in the lake`,
      'the manifest names files outside the lake; the engine reads only the lake it opened',
    );
  }
  return sql ?? `SELECT ${view.fields.map(typedNull).join(', ')} WHERE false`;
}

export interface SessionOptions {
  /** The lake's store: the only place the session may read (its readRoot), and how DuckDB reaches it. */
  readonly store: Pick<ObjectStore, 'readRoot' | 'duckdbSetup'>;
  readonly memoryLimit: string;
  readonly threads: number | undefined;
  readonly timeoutMs: number;
}

export interface Statement {
  readonly sql: string;
  readonly values?: DuckDBValue[];
  readonly types?: DuckDBType[];
  /** What the caller wrote (SQL, filter values): error messages may repeat these and nothing else. */
  readonly userText: readonly string[];
}

export interface SessionResult extends ReadRows {
  readonly truncated: boolean;
}

export class Session {
  private constructor(
    private readonly duck: OpenDuckDB,
    private readonly timeoutMs: number,
  ) {}

  static async open(options: SessionOptions, views: readonly ViewSpec[]): Promise<Session> {
    const duck = await openDuckDB({
      allowedDirectories: [options.store.readRoot],
      store: options.store,
      memoryLimit: options.memoryLimit,
      ...(options.threads === undefined ? {} : { threads: options.threads }),
    });
    try {
      const schemas = new Set(views.map((v) => v.schema));
      for (const schema of schemas) await duck.connection.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
      for (const view of views) {
        await duck.connection.run(
          `CREATE VIEW ${quoteIdent(view.schema)}.${quoteIdent(view.name)} AS ${viewSql(view)}`,
        );
      }
    } catch (error) {
      duck.close();
      if (error instanceof EngineError) throw error;
      throw new EngineError('QUERY_FAILED', 'the tables could not be opened for this query', {
        hint: 'the lake may be changing under the query; retry, and see the server log if it persists',
        cause: error,
      });
    }
    return new Session(duck, options.timeoutMs);
  }

  /** Runs one SELECT and keeps at most `max` rows; `truncated` says whether more were there. */
  async run(statement: Statement, max: number): Promise<SessionResult> {
    const { connection } = this.duck;
    const timer = setTimeout(() => connection.interrupt(), this.timeoutMs);
    try {
      const prepared = await connection.prepare(statement.sql);
      try {
        if (prepared.statementType !== StatementType.SELECT) {
          throw new EngineError('QUERY_INVALID', 'only a SELECT statement is accepted', {
            hint: 'write one SELECT over "schema"."table"',
          });
        }
        if (statement.values) prepared.bind(statement.values, statement.types);
        const reader = await prepared.streamAndReadUntil(max + 1);
        return { ...readRows(reader, max), truncated: reader.currentRowCount > max };
      } finally {
        prepared.destroySync();
      }
    } catch (error) {
      if (error instanceof EngineError) throw error;
      throw queryFailed(error, statement.userText, this.timeoutMs);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.duck.close();
  }
}
