import type { QueryEngine, ReadAt, SqlQuery, StructuredQuery } from '../../engine/types.js';
import { isChangelogIdentifier, stateIdentifierOf } from '../../lake/contract/index.js';
import { MAIN_BRANCH, STAGING_BRANCH } from '../../lake/iceberg/refs.js';
import { ApiError } from '../errors.js';
import type {
  ChangesInput,
  DiffInput,
  FreshnessInput,
  ManifestInput,
  QueryInput,
  SnapshotInput,
} from '../schemas/inputs.js';
import type { CatalogWire, StatusWire } from '../schemas/console.js';
import type {
  DescribeTableWire,
  DiffWire,
  FreshnessWire,
  ManifestWire,
  QueryWire,
  SnapshotWire,
  TableSummaryWire,
} from '../schemas/outputs.js';
import { lakeCatalog, lakeStatus } from './console.js';
import { contractDiff, type DiffSide } from './diff.js';
import { defaultMaxLag, freshness } from './freshness.js';
import type { LakeView } from './lake-view.js';
import { decideOn, manifestWire } from './manifest.js';
import { tableNotFound } from './not-found.js';
import { resolveRef, type ResolvedRef } from './refs.js';
import { snapshotOf } from './snapshot.js';
import type { Visibility } from './visibility.js';
import { describeWire, queryWire, summaryWire } from './wire.js';

export { LakeView } from './lake-view.js';
export { engineVisibility, policyVisibility, type Visibility } from './visibility.js';

/**
 * Everything the MCP tools and the REST routes do, once: both front doors are thin adapters over this, so they
 * answer the same request with the same data. Every operation takes the caller's principal; queries go through
 * the governed engine, and the lake views are cut to what governance lets the principal see.
 */
export interface ServeServiceOptions {
  readonly engine: QueryEngine;
  readonly visibility: Visibility;
  readonly lake: LakeView;
  /** serve.query.row_limit: the default and the cap of every limit. */
  readonly rowLimit: number;
  /** serve.query.timeout_ms: a request still waiting on the engine this long after it is answered with a timeout. */
  readonly timeoutMs: number;
  readonly flushIntervalSec: number;
  readonly catalogType: string;
  readonly version: string;
  readonly now?: () => Date;
}

/** The engine enforces the timeout itself; this only guarantees that no caller waits much past it. */
const GRACE_MS = 5_000;

export class ServeService {
  readonly startedAt: Date;
  private readonly now: () => Date;

  constructor(private readonly options: ServeServiceOptions) {
    this.now = options.now ?? (() => new Date());
    this.startedAt = this.now();
  }

  get engine(): QueryEngine {
    return this.options.engine;
  }

  get lake(): LakeView {
    return this.options.lake;
  }

  async listTables(principal: string): Promise<{ tables: TableSummaryWire[] }> {
    return { tables: (await this.engine.listTables(principal)).map(summaryWire) };
  }

  async describeTable(principal: string, input: { table: string }): Promise<DescribeTableWire> {
    return describeWire(await this.engine.describeTable(principal, input.table));
  }

  async query(principal: string, input: QueryInput): Promise<QueryWire> {
    const limit = this.limit(input.limit);
    let query: StructuredQuery | SqlQuery;
    let at: ReadAt | undefined;
    if (input.table !== undefined) {
      query = {
        kind: 'structured',
        table: input.table,
        ...(input.columns ? { columns: input.columns } : {}),
        ...(input.filters
          ? {
              filters: input.filters.map((f) => ({
                column: f.column,
                op: f.op,
                ...(f.value === undefined ? {} : { value: f.value }),
              })),
            }
          : {}),
        limit,
      };
      // A ref names a manifest version; for one table that is one snapshot id.
      if (input.ref !== undefined) at = { snapshotId: await this.snapshotAtRef(principal, input.table, input.ref) };
    } else {
      // Only the newest refs pass validation with sql: `main` is what the engine reads by default, `latest` and
      // `staging` are each table's staging head (its newest snapshot), which a role reads when its refs allow it.
      query = { kind: 'sql', sql: input.sql ?? '', limit };
      if (input.ref !== undefined && input.ref !== MAIN_BRANCH) at = { ref: STAGING_BRANCH };
    }
    if (input.snapshot_id !== undefined) at = { snapshotId: input.snapshot_id };
    return queryWire(await this.deadline(this.engine.query(principal, query, at)));
  }

  async changes(principal: string, input: ChangesInput): Promise<QueryWire> {
    const result = await this.deadline(
      this.engine.changes(principal, {
        table: stateIdentifierOf(input.table),
        ...(input.since_lsn === undefined ? { sinceEpoch: input.since_epoch ?? 0 } : { sinceLsn: input.since_lsn }),
        ...(input.columns ? { columns: input.columns } : {}),
        limit: this.limit(input.limit),
      }),
    );
    return queryWire(result);
  }

  async manifest(principal: string, input: ManifestInput): Promise<ManifestWire> {
    const at = await resolveRef(this.lake, input.ref ?? 'latest');
    return manifestWire(at, await decideOn(this.options.visibility, principal, at.manifest));
  }

  async freshness(principal: string, input: FreshnessInput): Promise<FreshnessWire> {
    const at = await this.lake.latestOrFail();
    const visible = await decideOn(this.options.visibility, principal, at.manifest);
    return freshness(this.lake, at, visible, input, {
      flushIntervalSec: this.options.flushIntervalSec,
      now: this.now(),
    });
  }

  async snapshot(principal: string, input: SnapshotInput): Promise<SnapshotWire> {
    const latest = await this.lake.latestOrFail();
    const visible = await decideOn(this.options.visibility, principal, latest.manifest);
    // Readers read main by default: the tables at the last promotion's cut.
    const at = await resolveRef(this.lake, input.ref ?? 'main');
    return snapshotOf(this.lake, at, visible, input);
  }

  async diff(principal: string, input: DiffInput): Promise<DiffWire> {
    const [from, to, latest, live] = await Promise.all([
      resolveRef(this.lake, input.from),
      resolveRef(this.lake, input.to ?? 'latest'),
      this.lake.latestOrFail(),
      this.options.visibility.policyVersion(),
    ]);
    const side = async (at: ResolvedRef): Promise<DiffSide> => ({
      at,
      visible: await decideOn(this.options.visibility, principal, at.manifest),
      // The live policy governs the newest manifest; older versions only know theirs if the writer stamped it.
      policyVersion: at.policyVersion ?? (at.version === latest.version ? live : null),
    });
    return contractDiff(this.lake, await side(from), await side(to));
  }

  async status(principal: string): Promise<StatusWire> {
    const latest = await this.lake.latest();
    const visible = latest
      ? await decideOn(this.options.visibility, principal, latest.manifest)
      : { policyVersion: await this.options.visibility.policyVersion(), tables: new Map<string, string[]>() };
    return lakeStatus(this.lake, latest, visible, principal, {
      version: this.options.version,
      startedAt: this.startedAt,
      now: this.now(),
      maxLagSeconds: defaultMaxLag(this.options.flushIntervalSec),
    });
  }

  async catalog(principal: string): Promise<CatalogWire> {
    const latest = await this.lake.latest();
    const visible = latest
      ? await decideOn(this.options.visibility, principal, latest.manifest)
      : { policyVersion: null, tables: new Map<string, string[]>() };
    return lakeCatalog(this.lake, visible, this.options.catalogType);
  }

  /** The base tables the principal may see now, for filtering audit entries and change events. */
  async visibleTables(principal: string): Promise<ReadonlySet<string>> {
    const latest = await this.lake.latest();
    if (!latest) return new Set();
    return new Set((await decideOn(this.options.visibility, principal, latest.manifest)).tables.keys());
  }

  private limit(requested: number | undefined): number {
    return Math.min(requested ?? this.options.rowLimit, this.options.rowLimit);
  }

  private async snapshotAtRef(principal: string, table: string, ref: string): Promise<string> {
    const at = await resolveRef(this.lake, ref);
    const base = stateIdentifierOf(table);
    const entry = at.manifest.tables[base];
    const id = isChangelogIdentifier(table) ? entry?.changes?.snapshot_id : entry?.state.snapshot_id;
    const visible = await decideOn(this.options.visibility, principal, at.manifest);
    if (!visible.tables.has(base) || !id) throw tableNotFound(table);
    return id;
  }

  private async deadline<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const limit = this.options.timeoutMs + GRACE_MS;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new ApiError('QUERY_TIMEOUT', `the query did not finish within ${this.options.timeoutMs} ms`, {
            hint: 'narrow it (filters, fewer columns, a limit), or raise serve.query.timeout_ms',
          }),
        );
      }, limit);
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
