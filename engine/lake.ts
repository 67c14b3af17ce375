/**
 * The lake as the engine reads it: which tables exist (state tables and their `__changes` changelogs), their
 * metadata, which snapshot a request reads, and the live files of that snapshot with the Parquet column of each
 * field id. Metadata files, snapshots and data files are immutable, so everything below a catalog pointer is
 * cached by the name that identifies it; only the catalog itself is read per request.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Logger } from '../core/log/index.js';
import type { LakeTableShape } from '../governance/types.js';
import { isChangelogIdentifier, stateIdentifierOf, SUMMARY_KEY } from '../lake/contract/index.js';
import { BoundedCache } from '../lake/cache.js';
import { currentSchema, currentSnapshot, type Snapshot, type TableMetadata } from '../lake/iceberg/metadata.js';
import type { IcebergField } from '../core/types/iceberg.js';
import type { Lake } from '../lake/open.js';
import { rawTagAtOrBefore, rawTags, rawTagTime } from '../lake/iceberg/raw-tags.js';
import {
  branchSnapshot,
  hasStaging,
  headSnapshot,
  isAncestor,
  MAIN_BRANCH,
  STAGING_BRANCH,
} from '../lake/iceberg/refs.js';
import { currentDataFiles, type SnapshotFiles } from '../lake/reader.js';
import { scanColumnNames } from '../lake/scan.js';
import type { ObjectStore } from '../lake/storage/index.js';
import { invalid, notAvailable, rawTagNotFound, refNotFound, snapshotNotFound, EngineError } from './errors.js';
import type { ReadAt } from './types.js';

export interface LakeTable {
  /** `schema.table`, or `schema.table__changes` for a changelog. */
  readonly identifier: string;
  readonly kind: 'state' | 'changes';
  /** The state table a changelog belongs to; the table itself for a state table. */
  readonly stateIdentifier: string;
  readonly schema: string;
  readonly name: string;
  readonly metadata: TableMetadata;
  readonly fields: readonly IcebergField[];
  /** Names of the identifier (primary-key) fields, in key order. */
  readonly keyNames: readonly string[];
}

/** Runs `fn` on a fresh connection of the engine's own DuckDB (one connection runs one statement at a time). */
export type WithConnection = <T>(fn: (connection: DuckDBConnection) => Promise<T>) => Promise<T>;

export interface ResolvedFiles {
  readonly files: SnapshotFiles;
  /** The column name of each top-level field id in a scan of the files (lake/scan.ts reads them by field id). */
  readonly parquetNames: ReadonlyMap<number, string>;
}

/** Resolved files of this many snapshots are kept (metadata files are cached by the lake itself). */
const FILES_CACHE_LIMIT = 512;

export class LakeIndex {
  readonly store: ObjectStore;
  private readonly files = new BoundedCache<string, Promise<ResolvedFiles>>(FILES_CACHE_LIMIT);

  constructor(
    private readonly lake: Lake,
    private readonly log: Logger,
  ) {
    this.store = lake.store;
  }

  /**
   * Every readable table of the lake now, by identifier. A table whose metadata cannot be read is left out (and
   * logged) rather than failing every request: for callers it does not exist until it is readable again.
   */
  async tables(): Promise<Map<string, LakeTable>> {
    const identifiers = await this.lake.catalog.listTables();
    const present = new Set(identifiers);
    const tables = await Promise.all(
      identifiers.map(async (identifier): Promise<LakeTable[]> => {
        let metadata: TableMetadata;
        try {
          metadata = await this.loadMetadata(identifier);
        } catch (error) {
          this.log.warn({ table: identifier, err: error }, 'table left out of queries: its metadata is unreadable');
          return [];
        }
        const dot = identifier.indexOf('.');
        const base = stateIdentifierOf(identifier);
        const kind = isChangelogIdentifier(identifier) && present.has(base) ? 'changes' : 'state';
        const schema = currentSchema(metadata);
        const byId = new Map(schema.fields.map((f) => [f.id, f.name]));
        const table: LakeTable = {
          identifier,
          kind,
          stateIdentifier: kind === 'changes' ? base : identifier,
          schema: identifier.slice(0, dot),
          name: identifier.slice(dot + 1),
          metadata,
          fields: schema.fields,
          keyNames: (schema['identifier-field-ids'] ?? []).flatMap((id) => byId.get(id) ?? []),
        };
        return [table];
      }),
    );
    return new Map(tables.flat().map((t) => [t.identifier, t]));
  }

  /** What governance decides over: every table (changelogs included) and its current columns. */
  static shapes(tables: ReadonlyMap<string, LakeTable>): LakeTableShape[] {
    return [...tables.values()].map((t) => ({ identifier: t.identifier, columns: t.fields.map((f) => f.name) }));
  }

  private async loadMetadata(identifier: string): Promise<TableMetadata> {
    const entry = await this.lake.catalog.loadTable(identifier);
    const metadata = await this.lake.metadataAt(entry.metadataKey);
    if (!metadata) throw notAvailable(`the metadata of ${identifier} is missing`, 'the lake is being rewritten; retry');
    return metadata;
  }

  /** The files of `snapshot` (none for a table without one), with the Parquet name of each field id. */
  resolveFiles(table: LakeTable, snapshot: Snapshot | undefined): Promise<ResolvedFiles> {
    if (!snapshot) {
      const files = { identifier: table.identifier, snapshot, schema: currentSchema(table.metadata) };
      return Promise.resolve({ files: { ...files, dataFiles: [], deleteFiles: [] }, parquetNames: new Map() });
    }
    const key = `${table.metadata['table-uuid']}:${snapshot['snapshot-id']}`;
    const cached = this.files.get(key);
    if (cached) return cached;
    const loading = (async () => {
      const files = await currentDataFiles(this.store, this.lake.catalog, table.identifier, {
        snapshotId: snapshot['snapshot-id'],
      });
      return { files, parquetNames: scanColumnNames(files.schema) };
    })();
    loading.catch(() => this.files.delete(key));
    return this.files.remember(key, loading);
  }
}

// eslint-disable-next-line no-control-regex
const REF_TEXT = /^[^\u0000-\u001f\u007f]{1,255}$/;

/**
 * The snapshot a request reads: a ref of the table's metadata, else a snapshot id given as `ref` text or as
 * `snapshotId`; the current one by default. undefined: the table has no snapshot (it reads as empty).
 */
export function resolveSnapshot(table: LakeTable, at: ReadAt = {}): Snapshot | undefined {
  const snapshot = resolveNamedSnapshot(table, at);
  return at.baseOnly && snapshot ? baseOf(table.metadata, snapshot) : snapshot;
}

/**
 * The newest base at or before `snapshot`: the snapshot `init` committed or a compaction's, whose files hold every
 * change before it merged, with none of the epochs after it (the reference's "no deltas" read). A chain whose base
 * has expired reads the oldest snapshot still there.
 */
function baseOf(metadata: TableMetadata, snapshot: Snapshot): Snapshot {
  const byId = new Map(metadata.snapshots.map((s) => [s['snapshot-id'], s] as const));
  let at: Snapshot | undefined = snapshot;
  let oldest = snapshot;
  while (at) {
    const kind = at.summary[SUMMARY_KEY.kind];
    if (kind === 'snapshot' || kind === 'compaction') return at;
    oldest = at;
    at = at['parent-snapshot-id'] === undefined ? undefined : byId.get(at['parent-snapshot-id']);
  }
  return oldest;
}

/**
 * Readers read what was promoted: `main` and the snapshots before it. A snapshot past `main` (staging's, or a tag
 * or id naming one) is refused unless the role's `refs` lists `staging` (the caller decides that).
 */
export function refuseUnpromoted(table: LakeTable, snapshot: Snapshot, at: ReadAt): void {
  const main = branchSnapshot(table.metadata, MAIN_BRANCH);
  if (!main || isAncestor(table.metadata, snapshot['snapshot-id'], main)) return;
  const asked = at.ref ?? at.snapshotId ?? String(snapshot['snapshot-id']);
  throw new EngineError(
    'REF_FORBIDDEN',
    `${JSON.stringify(asked)} of ${table.identifier} names a snapshot not promoted to main yet`,
    {
      context: { table: table.identifier, ref: asked },
      hint: 'read main (the default) or a snapshot before it; a role whose refs list staging may read past main (governance.roles.<role>.refs: [main, staging])',
    },
  );
}

function resolveNamedSnapshot(table: LakeTable, at: ReadAt): Snapshot | undefined {
  const { metadata } = table;
  if (at.ref !== undefined && at.snapshotId !== undefined) {
    throw invalid('give a ref or a snapshot id, not both', 'a ref name such as main, or a decimal snapshot id');
  }
  const byId = (id: string): Snapshot | undefined => metadata.snapshots.find((s) => String(s['snapshot-id']) === id);
  if (at.ref !== undefined) {
    if (!REF_TEXT.test(at.ref)) {
      throw new EngineError('REF_INVALID', 'a ref is 1 to 255 characters without control characters', {
        hint: 'a ref name such as main, or a decimal snapshot id',
      });
    }
    // A table without a staging branch commits to main: that is its staging head.
    if (at.ref === STAGING_BRANCH && !hasStaging(metadata)) return headSnapshot(metadata);
    const ref = Object.hasOwn(metadata.refs, at.ref) ? metadata.refs[at.ref] : undefined;
    if (ref) {
      const snapshot = byId(String(ref['snapshot-id']));
      if (!snapshot) throw snapshotNotFound(String(ref['snapshot-id']), table.identifier, metadata.snapshots);
      return snapshot;
    }
    if (at.ref === 'main' && metadata.snapshots.length === 0) return undefined;
    const rawTime = rawTagTime(at.ref);
    if (rawTime !== undefined) {
      // Any time reads the newest raw tag at or before it, as a time-travel query would.
      const tag = rawTagAtOrBefore(metadata, rawTime);
      if (!tag) throw rawTagNotFound(at.ref, table.identifier, rawTags(metadata).at(-1)?.name);
      const snapshot = byId(String(tag.snapshotId));
      if (!snapshot) throw snapshotNotFound(String(tag.snapshotId), table.identifier, metadata.snapshots);
      return snapshot;
    }
    if (!/^\d{1,19}$/.test(at.ref)) throw refNotFound(at.ref, table.identifier, Object.keys(metadata.refs));
    const snapshot = byId(at.ref);
    if (!snapshot) throw snapshotNotFound(at.ref, table.identifier, metadata.snapshots);
    return snapshot;
  }
  if (at.snapshotId !== undefined) {
    if (!/^\d{1,19}$/.test(at.snapshotId)) {
      throw new EngineError('REF_INVALID', `snapshot id ${JSON.stringify(at.snapshotId)} is not a decimal number`, {
        hint: 'snapshot ids are the decimal numbers `pg-cdc query` lists',
      });
    }
    const snapshot = byId(at.snapshotId);
    if (!snapshot) throw snapshotNotFound(at.snapshotId, table.identifier, metadata.snapshots);
    return snapshot;
  }
  return currentSnapshot(metadata);
}
