/**
 * The governed query engine: per request, the caller's decision (cached), the tables it may see, and a DuckDB
 * holding only those tables as views of their visible columns at the requested snapshot. Both query forms and the
 * changelog read run there; listing and describing never open DuckDB.
 */
import { availableParallelism } from 'node:os';
import type { PgCdcConfig } from '../core/config/index.js';
import type { Logger } from '../core/log/index.js';
import type { AccessPolicy } from '../governance/types.js';
import { summaryEpoch, summaryLsn } from '../lake/contract/index.js';
import { currentSchema, currentSnapshot } from '../lake/iceberg/metadata.js';
import { openLake } from '../lake/open.js';
import { openDuckDB, renewStoreAccess, type OpenDuckDB } from '../lake/parquet/writer.js';
import { DecisionCache, visibleTables, type VisibleTable } from './access.js';
import { changesPlan } from './changes.js';
import { EngineError, invalid, tableNotFound } from './errors.js';
import { LakeIndex, refuseUnpromoted, resolveSnapshot, type WithConnection } from './lake.js';
import { Session, type ViewSpec } from './session.js';
import { checkSql, type TableReference } from './sql-guard.js';
import { checkLimit, parseWhere, structuredStatement } from './structured.js';
import type {
  ChangesRequest,
  QueryEngine,
  QueryEngineTuning,
  QueryResult,
  ReadAt,
  SqlQuery,
  StructuredQuery,
  TableDescription,
  TableSummary,
} from './types.js';
import { duckdbType, icebergTypeText } from './values.js';

export interface CreateQueryEngineOptions extends QueryEngineTuning {
  /** Reads `storage` and `catalog` (the lake, see openLake) and `serve.query` (row cap, timeout). */
  readonly config: Pick<PgCdcConfig, 'storage' | 'catalog' | 'serve'>;
  readonly policy: AccessPolicy;
  readonly log: Logger;
}

function summary(visible: VisibleTable): TableSummary {
  const { table } = visible;
  const snapshot = currentSnapshot(table.metadata);
  const facts = snapshot?.summary;
  const records = facts?.['total-records'];
  return {
    table: table.identifier,
    kind: table.kind,
    columns: visible.fields.length,
    rowCount: !snapshot
      ? 0
      : records === undefined
        ? null
        : Number(records) - Number(facts?.['total-position-deletes'] ?? 0),
    snapshotId: snapshot ? String(snapshot['snapshot-id']) : null,
    committedLsn: summaryLsn(facts) ?? null,
    epoch: summaryEpoch(facts) ?? null,
  };
}

const FILE_LIKE = /[/\\]|\.(parquet|csv|tsv|json|ndjson|jsonl|txt|gz|zst|db|duckdb|sqlite|arrow|avro|orc|xlsx?)$/i;

class GovernedQueryEngine implements QueryEngine {
  private readonly lake: LakeIndex;
  private readonly decisions: DecisionCache;
  private readonly rowLimit: number;
  private readonly timeoutMs: number;
  private utility: Promise<OpenDuckDB> | undefined;
  private closed = false;

  constructor(private readonly options: CreateQueryEngineOptions) {
    this.lake = new LakeIndex(openLake(options.config), options.log);
    this.decisions = new DecisionCache(options.policy, options.decisionTtlMs ?? 300_000, options.log);
    this.rowLimit = options.config.serve.query.row_limit;
    this.timeoutMs = options.config.serve.query.timeout_ms;
  }

  /**
   * A connection to the engine's own DuckDB, for its own statements (parsing a caller's SQL, passed as a bound
   * value). Caller SQL never runs here.
   */
  private readonly withConnection: WithConnection = async (fn) => {
    if (this.closed) throw new EngineError('NOT_AVAILABLE', 'the query engine is closed', { hint: 'create a new one' });
    const store = this.lake.store;
    this.utility ??= openDuckDB({ allowedDirectories: [store.readRoot], threads: 1, store });
    const { instance } = await this.utility;
    await renewStoreAccess(instance, store);
    const connection = await instance.connect();
    try {
      return await fn(connection);
    } finally {
      connection.closeSync();
    }
  };

  private async visible(principal: string): Promise<Map<string, VisibleTable>> {
    const lake = await this.lake.tables();
    const decision = await this.decisions.decide(principal, LakeIndex.shapes(lake));
    return visibleTables(lake, decision);
  }

  private lookup(visible: ReadonlyMap<string, VisibleTable>, table: string): VisibleTable {
    const found = typeof table === 'string' ? visible.get(table) : undefined;
    if (!found) throw tableNotFound(String(table), [...visible.keys()].sort());
    return found;
  }

  async listTables(principal: string): Promise<TableSummary[]> {
    const visible = await this.visible(principal);
    return [...visible.values()].map(summary).sort((a, b) => a.table.localeCompare(b.table));
  }

  async describeTable(principal: string, table: string): Promise<TableDescription> {
    const visible = this.lookup(await this.visible(principal), table);
    const keys = visible.table.keyNames;
    const shown = new Set(visible.fields.map((f) => f.name));
    return {
      ...summary(visible),
      columnsDetail: visible.fields.map((f) => ({
        name: f.name,
        type: duckdbType(f.type),
        icebergType: icebergTypeText(f.type),
        fieldId: f.id,
        required: f.required,
        primaryKey: keys.includes(f.name),
      })),
      primaryKey: keys.filter((k) => shown.has(k)),
      schemaId: currentSchema(visible.table.metadata)['schema-id'],
    };
  }

  async query(principal: string, query: StructuredQuery | SqlQuery, at: ReadAt = {}): Promise<QueryResult> {
    const started = Date.now();
    const visible = await this.visible(principal);
    if (query?.kind === 'sql') {
      const limit = checkLimit(query.limit, this.rowLimit);
      const references = await this.withConnection((connection) => checkSql(connection, query.sql));
      const targets = this.resolveReferences(visible, references);
      return this.run(started, principal, targets, at, { sql: query.sql, userText: [query.sql] }, limit);
    }
    if (query?.kind !== 'structured') {
      throw invalid('a query is { kind: "structured", table, … } or { kind: "sql", sql }', 'set kind');
    }
    const target = this.lookup(visible, query.table);
    const limit = checkLimit(query.limit, this.rowLimit);
    const names = target.fields.map((f) => f.name);
    const where = (query.where ?? []).map((raw) => parseWhere(String(raw), target.table.identifier, names));
    const statement = structuredStatement({
      schema: target.table.schema,
      name: target.table.name,
      table: target.table.identifier,
      visible: names,
      ...(query.columns ? { columns: query.columns } : {}),
      filters: [...(query.filters ?? []), ...where],
      orderBy: target.table.keyNames,
      limit,
    });
    return this.run(started, principal, [target], at, statement, limit);
  }

  async changes(principal: string, request: ChangesRequest): Promise<QueryResult> {
    const started = Date.now();
    const visible = await this.visible(principal);
    const { target, plan } = changesPlan(visible, request, checkLimit(request?.limit, this.rowLimit));
    return this.run(started, principal, [target], {}, structuredStatement(plan), plan.limit);
  }

  /** Each `"schema"."table"` of the statement, as one of the caller's tables (matched as DuckDB matches names). */
  private resolveReferences(visible: ReadonlyMap<string, VisibleTable>, references: TableReference[]): VisibleTable[] {
    const names = [...visible.keys()].sort();
    const targets = new Map<string, VisibleTable>();
    for (const ref of references) {
      if (ref.schema === '' && FILE_LIKE.test(ref.table)) {
        throw invalid(
          `${JSON.stringify(ref.table)} looks like a file: files are not readable as tables`,
          `name tables as "schema"."table"; yours are: ${names.join(', ') || 'none'}`,
        );
      }
      if (ref.schema === '') {
        const wanted = ref.table.toLowerCase();
        const candidates = names.filter(
          (n) => n.toLowerCase() === wanted || n.slice(n.indexOf('.') + 1).toLowerCase() === wanted,
        );
        throw invalid(
          `table ${JSON.stringify(ref.table)} needs its schema`,
          candidates.length
            ? `write it as ${candidates.map((n) => `"${n.replace('.', '"."')}"`).join(' or ')}`
            : `name tables as "schema"."table"; yours are: ${names.join(', ') || 'none'}`,
        );
      }
      const matches = [...visible.values()].filter(
        ({ table }) =>
          table.schema.toLowerCase() === ref.schema.toLowerCase() &&
          table.name.toLowerCase() === ref.table.toLowerCase(),
      );
      if (matches.length === 0) throw tableNotFound(`${ref.schema}.${ref.table}`, names);
      if (matches.length > 1) {
        throw invalid(
          `${ref.schema}.${ref.table} matches several tables that differ only in case`,
          'use a structured query',
        );
      }
      targets.set(matches[0]!.table.identifier, matches[0]!);
    }
    return [...targets.values()];
  }

  private async run(
    started: number,
    principal: string,
    targets: readonly VisibleTable[],
    at: ReadAt,
    statement: Parameters<Session['run']>[0],
    limit: number,
  ): Promise<QueryResult> {
    const snapshots: Record<string, string> = {};
    const views: ViewSpec[] = [];
    for (const target of targets) {
      const snapshot = resolveSnapshot(target.table, at);
      if (snapshot && !target.readsStaging) refuseUnpromoted(target.table, snapshot, at);
      if (snapshot) snapshots[target.table.identifier] = String(snapshot['snapshot-id']);
      const resolved = await this.lake.resolveFiles(target.table, snapshot);
      views.push({ schema: target.table.schema, name: target.table.name, fields: target.fields, resolved });
    }
    const session = await Session.open(
      {
        store: this.lake.store,
        memoryLimit: this.options.memoryLimit ?? '1GB',
        threads: this.options.threads ?? Math.min(availableParallelism(), 4),
        timeoutMs: this.timeoutMs,
      },
      views,
    );
    try {
      const result = await session.run(statement, limit);
      const elapsedMs = Date.now() - started;
      this.options.log.debug(
        { principal, tables: Object.keys(snapshots), rows: result.rows.length, elapsedMs },
        'query served',
      );
      return { ...result, rowCount: result.rows.length, snapshots, elapsedMs };
    } catch (error) {
      this.options.log.debug({ principal, err: error }, 'query refused or failed');
      throw error;
    } finally {
      session.close();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const utility = this.utility;
    this.utility = undefined;
    if (utility) (await utility).close();
  }
}

/** The engine over the lake in `config.storage`, enforcing what `policy` decides. It does not close the policy. */
export function createQueryEngine(options: CreateQueryEngineOptions): QueryEngine {
  return new GovernedQueryEngine(options);
}
