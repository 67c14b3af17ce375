import { catalogDriftTables, catalogSyncTables } from '../../core/metrics/index.js';
import { changelogIdentifier } from '../contract/index.js';
import { LakeFormatError, TableNotFoundError } from '../errors.js';
import { metadataVersion } from '../iceberg/table.js';
import type { IcebergTableRef, ManifestStore } from '../manifest.js';
import type { ObjectStore } from '../storage/index.js';
import type { Catalog } from './index.js';

/**
 * `pg-cdc catalog register`: every table of the lake registered in the catalog, pointing at its current metadata.
 * The lake's manifest says which tables exist and which metadata file each had at its last recorded commit; the
 * catalog is brought up to that, never back: the manifest is written after the catalog's swap, so a catalog
 * pointer newer than the manifest's is a commit the manifest has not caught up with, and is left alone.
 */
export type RegisterOutcome =
  /** The catalog points where the lake does (or past it, at a commit the manifest has not recorded yet). */
  | 'registered'
  /** Drift healed: the table was missing from the catalog and is registered now. */
  | 'created'
  /** Drift healed: the catalog pointed at an older (or missing) metadata file and points at the lake's now. */
  | 'updated'
  /** Drift healed: the pointer was right, what the catalog publishes from it (a Hive table) was not. */
  | 'published';

export interface RegisterResult {
  readonly identifier: string;
  readonly outcome: RegisterOutcome;
  /** The metadata file the catalog points at now. */
  readonly metadataKey: string;
  /** What it pointed at before, when that was drift. */
  readonly was?: string;
}

export interface RegisterLake {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  readonly manifest: ManifestStore;
}

/** Registers the tables of the lake (the state table `only` and its changelog, when given), idempotently. */
export async function registerLakeTables(lake: RegisterLake, only?: string): Promise<RegisterResult[]> {
  const tables = (await lake.manifest.read())?.value.tables ?? {};
  if (only !== undefined && !tables[only]) throw new TableNotFoundError(only);
  const refs: [string, IcebergTableRef][] = [];
  for (const [identifier, entry] of Object.entries(tables).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (only !== undefined && identifier !== only) continue;
    refs.push([identifier, entry.state]);
    if (entry.changes) refs.push([changelogIdentifier(identifier), entry.changes]);
  }
  const results: RegisterResult[] = [];
  for (const [identifier, ref] of refs) {
    const result = await registerOne(lake, identifier, ref);
    const published = (await lake.catalog.refresh?.(identifier)) ?? false;
    results.push(published && result.outcome === 'registered' ? { ...result, outcome: 'published' } : result);
  }
  recordSync(results);
  return results;
}

/** What a re-sync found, for the catalog families: each table by outcome, and how many had drifted. */
function recordSync(results: readonly RegisterResult[]): void {
  for (const { outcome } of results) catalogSyncTables.inc({ outcome: outcome === 'registered' ? 'in_sync' : outcome });
  catalogDriftTables.set(results.filter((result) => result.outcome !== 'registered').length);
}

async function registerOne(lake: RegisterLake, identifier: string, ref: IcebergTableRef): Promise<RegisterResult> {
  const { store, catalog } = lake;
  const metadataKey = store.keyOf(ref.metadata_location);
  const at = metadataKey?.lastIndexOf('/metadata/') ?? -1;
  if (metadataKey === undefined || at <= 0) {
    throw new LakeFormatError(`the manifest's metadata location of ${identifier} is not in this lake`, {
      table: identifier,
      metadata_location: ref.metadata_location,
    });
  }
  const current = await catalog.loadTable(identifier).catch((error: unknown) => {
    if (error instanceof TableNotFoundError) return undefined;
    throw error;
  });
  if (!current) {
    await catalog.createTable(identifier, { metadataKey, location: metadataKey.slice(0, at) });
    return { identifier, outcome: 'created', metadataKey };
  }
  if (current.metadataKey === metadataKey) return { identifier, outcome: 'registered', metadataKey };
  const behind = metadataVersion(current.metadataKey) < metadataVersion(metadataKey);
  if (!behind && (await store.exists(current.metadataKey))) {
    return { identifier, outcome: 'registered', metadataKey: current.metadataKey };
  }
  // A compare-and-swap like any commit: a writer that moves the table meanwhile wins, and this run fails.
  await catalog.commitTable(identifier, current.metadataKey, metadataKey);
  return { identifier, outcome: 'updated', metadataKey, was: current.metadataKey };
}
