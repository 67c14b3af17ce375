import { z } from 'zod';
import { LSN_TEXT_PATTERN } from '../core/lsn/index.js';
import { DIFF_CLASSES } from './contract/diff.js';
import { stringifyJson, type JsonValue } from './json.js';
import type { ObjectStore } from './storage/index.js';
import { pruneVersions, type VersionPruning, type VersionRetention } from './retention.js';
import { VersionedDocument, type UpdateOptions, type Versioned } from './versioned.js';

/**
 * pg-cdc's `manifest.json`: the index of replicated tables with their schema versions, epochs and committed
 * LSNs, readable without an Iceberg library. The versioned copies under `_pgcdc/manifest/` are the truth and
 * are committed with compare-and-swap; `manifest.json` at the warehouse root is a convenience copy of the latest
 * for people and tools, rewritten after every commit (briefly behind when commits race, never ahead). Old
 * versions are pruned at compaction (lake/compaction/versions.ts).
 */
const lsn = z.string().regex(LSN_TEXT_PATTERN, 'an LSN like 0/16B3748');

const icebergTableRef = z.object({
  /** Absolute location of the table's current metadata file. */
  metadata_location: z.string().min(1),
  /** Decimal string: snapshot ids are 63-bit, beyond what JSON numbers carry exactly in JS tools. */
  snapshot_id: z.string().regex(/^\d+$/).nullable(),
  schema_id: z.number().int().nonnegative(),
});

const manifestTable = z.object({
  /** The current-state Iceberg table `<schema>.<table>`. */
  state: icebergTableRef,
  /** The changelog Iceberg table `<schema>.<table>__changes`. */
  changes: icebergTableRef.optional(),
  columns: z.array(z.string()),
  primary_key: z.array(z.string()),
  row_count: z.number().int().nonnegative(),
  epoch: z.number().int().nonnegative(),
  /** Every transaction with a commit LSN at or below this is in the table. */
  committed_lsn: lsn,
  schema_version: z.number().int().nonnegative(),
  /** When `pg-cdc start` found the source table dropped: the lake keeps its data as of its last epoch. */
  dropped_at: z.iso.datetime({ offset: true }).optional(),
});

const snapshotId = z.string().regex(/^\d+$/);

/** What `main` names in one table after a promotion: the state and changelog snapshots at the cut. */
const promotedTable = z.object({
  state_snapshot_id: snapshotId.nullable(),
  changes_snapshot_id: snapshotId.nullable(),
  /** The `pgcdc.lsn` of the state snapshot: the last commit in it, below the cut. */
  lsn,
});

/**
 * The database-wide record of `main` (lake/state/promotion.ts): one promotion moved every table to its newest
 * staging snapshot below `cut_lsn`, so the tables of `main` are one consistent point of the source.
 */
const mainRecord = z.object({
  cut_lsn: lsn,
  promoted_at: z.iso.datetime({ offset: true }),
  promoted_by: z.string().min(1),
  reason: z.string(),
  /** The contract diff's class of the promotion (lake/contract/diff.ts); `breaking` only when forced. */
  classification: z.enum(DIFF_CLASSES),
  forced: z.boolean(),
  tables: z.record(z.string(), promotedTable),
});

export const pgCdcManifestSchema = z.object({
  format_version: z.literal(1),
  updated_at: z.iso.datetime({ offset: true }),
  source: z.object({
    database: z.string().min(1),
    host: z.string().optional(),
    slot: z.string().min(1),
    publication: z.string().min(1),
    consistent_point_lsn: lsn.optional(),
  }),
  tables: z.record(z.string(), manifestTable),
  /** Absent until the first promotion: then the tables' `main` is their current snapshot. */
  main: mainRecord.optional(),
});

export type PgCdcManifest = z.infer<typeof pgCdcManifestSchema>;
export type ManifestTable = z.infer<typeof manifestTable>;
export type ManifestSource = PgCdcManifest['source'];
export type IcebergTableRef = z.infer<typeof icebergTableRef>;
export type MainRecord = z.infer<typeof mainRecord>;
export type PromotedTable = z.infer<typeof promotedTable>;

export function emptyManifest(source: ManifestSource, now: Date = new Date()): PgCdcManifest {
  return { format_version: 1, updated_at: now.toISOString(), source, tables: {} };
}

/** Where the manifest's versions live in the warehouse: `v<N>` refs read them. */
export const MANIFEST_PREFIX = '_pgcdc/manifest';

export interface ManifestStoreOptions {
  /** Default `_pgcdc/manifest`. */
  readonly prefix?: string;
  /** Default `manifest.json`. */
  readonly latestKey?: string;
}

export class ManifestStore {
  private readonly doc: VersionedDocument<PgCdcManifest>;
  private readonly latestKey: string;

  constructor(
    private readonly store: ObjectStore,
    options: ManifestStoreOptions = {},
  ) {
    this.doc = new VersionedDocument(store, options.prefix ?? MANIFEST_PREFIX, (raw: JsonValue) =>
      pgCdcManifestSchema.parse(raw),
    );
    this.latestKey = options.latestKey ?? 'manifest.json';
  }

  read(): Promise<Versioned<PgCdcManifest> | undefined> {
    return this.doc.read();
  }

  /** One version; VersionPrunedError when it was pruned. */
  readVersion(version: number): Promise<PgCdcManifest> {
    return this.doc.readVersion(version);
  }

  /** Drops the versions `retention` lets go (lake/compaction/versions.ts decides what else keeps one). */
  pruneVersions(retention: VersionRetention): Promise<VersionPruning> {
    return pruneVersions(this.doc, retention);
  }

  /** CAS on `expectedVersion` (undefined: the manifest must not exist yet); CommitConflictError when it moved. */
  async commit(expectedVersion: number | undefined, value: PgCdcManifest): Promise<number> {
    const version = await this.doc.commit(expectedVersion, pgCdcManifestSchema.parse(value));
    await this.writeLatestCopy();
    return version;
  }

  /**
   * Re-read, apply `fn`, commit; retried on conflict, so `fn` must be pure. `updated_at` is stamped here.
   * `fn` receives undefined when there is no manifest yet and must then build one (see `emptyManifest`).
   */
  async update(
    fn: (current: PgCdcManifest | undefined) => PgCdcManifest,
    options: UpdateOptions = {},
  ): Promise<Versioned<PgCdcManifest>> {
    // Writers in one process (each table's epoch commits) take turns: compare-and-swap still guards against other
    // processes, but local writers no longer collide, re-read and rewrite under load.
    const turn = ManifestStore.queue.then(() => this.updateNow(fn, options));
    ManifestStore.queue = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  }

  private static queue: Promise<void> = Promise.resolve();

  private async updateNow(
    fn: (current: PgCdcManifest | undefined) => PgCdcManifest,
    options: UpdateOptions,
  ): Promise<Versioned<PgCdcManifest>> {
    const committed = await this.doc.update((current) => {
      const next = fn(current?.value);
      return pgCdcManifestSchema.parse({ ...next, updated_at: new Date().toISOString() });
    }, options);
    await this.writeLatestCopy();
    return committed;
  }

  /** Writes whatever is latest now rather than what this caller committed, so a slow writer cannot regress it. */
  private async writeLatestCopy(): Promise<void> {
    const latest = await this.doc.read();
    if (latest) await this.store.put(this.latestKey, `${stringifyJson(latest.value, 2)}\n`);
  }
}
