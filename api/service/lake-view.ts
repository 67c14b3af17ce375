import { z } from 'zod';
import { BoundedCache } from '../../lake/cache.js';
import type { Catalog } from '../../lake/catalog/index.js';
import type { TableMetadata } from '../../lake/iceberg/metadata.js';
import type { JsonValue } from '../../lake/json.js';
import { MANIFEST_PREFIX, pgCdcManifestSchema, type PgCdcManifest } from '../../lake/manifest.js';
import type { Lake } from '../../lake/open.js';
import { currentDataFiles, type SnapshotFiles } from '../../lake/reader.js';
import type { ObjectStore } from '../../lake/storage/index.js';
import { VersionedDocument } from '../../lake/versioned.js';
import { ApiError } from '../errors.js';

/**
 * Read-only access to what the front doors show besides query results: the versions of pg-cdc's manifest, the
 * catalog and Iceberg metadata. Every versioned manifest is immutable, and so is every metadata file, so both are
 * cached (manifest versions here, metadata files by the lake, shared with the query engine); only "which version is
 * the latest" is asked of the store each time.
 */
export interface ManifestAt {
  readonly version: number;
  readonly manifest: PgCdcManifest;
  /** `policy_version` when the writer stamped one into this manifest version; null otherwise. */
  readonly policyVersion: number | null;
}

const VERSIONS_CACHE_LIMIT = 256;
const stamped = z.object({ policy_version: z.number().int().nonnegative() });

export class LakeView {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  private readonly manifests: VersionedDocument<ManifestAt>;
  private readonly versions = new BoundedCache<number, ManifestAt>(VERSIONS_CACHE_LIMIT);
  private newest: number | undefined;

  constructor(private readonly lake: Lake) {
    this.store = lake.store;
    this.catalog = lake.catalog;
    this.location = lake.location;
    this.manifests = new VersionedDocument(this.store, MANIFEST_PREFIX, (raw: JsonValue) => ({
      version: 0,
      manifest: pgCdcManifestSchema.parse(raw),
      policyVersion: stamped.safeParse(raw).data?.policy_version ?? null,
    }));
  }

  /** The warehouse root as a URI (what Iceberg metadata calls locations). */
  readonly location: string;

  /** The newest manifest version any read has seen (for metrics: no read of its own). */
  get newestSeenVersion(): number | undefined {
    return this.newest;
  }

  /** The newest manifest, or undefined when nothing was ever snapshotted into this lake. */
  async latest(): Promise<ManifestAt | undefined> {
    const read = await this.manifests.read();
    if (!read) return undefined;
    this.newest = Math.max(this.newest ?? 0, read.version);
    const cached = this.versions.get(read.version);
    return cached ?? this.versions.remember(read.version, { ...read.value, version: read.version });
  }

  async latestOrFail(): Promise<ManifestAt> {
    const latest = await this.latest();
    if (!latest) {
      throw new ApiError('LAKE_EMPTY', 'the lake has no tables yet', {
        hint: 'run `pg-cdc init` to snapshot the source into the lake',
      });
    }
    return latest;
  }

  /** The oldest manifest version compaction kept (1 until it prunes any). */
  oldestVersion(): Promise<number> {
    return this.manifests.floor();
  }

  /** Manifest version `version`; REF_NOT_FOUND when it was never committed, VERSION_PRUNED when it was pruned. */
  async version(version: number, latest?: ManifestAt): Promise<ManifestAt> {
    // A cached version is still what was committed, but once pruned it is answered as pruned, as by any server.
    const oldest = await this.oldestVersion();
    const cached = this.versions.get(version);
    if (cached && version >= oldest) return cached;
    const newest = latest ?? (await this.latestOrFail());
    if (!Number.isSafeInteger(version) || version < 1 || version > newest.version) {
      throw new ApiError('REF_NOT_FOUND', `manifest version ${version} does not exist`, {
        context: { version },
        hint: `versions run from v${oldest} to v${newest.version}`,
      });
    }
    const value = await this.manifests.readVersion(version);
    return this.versions.remember(version, { ...value, version });
  }

  /** A table's metadata as written in the file at `location` (a manifest's metadata_location). */
  async metadataAt(location: string): Promise<TableMetadata> {
    const key = this.store.keyOf(location);
    const metadata = key === undefined ? undefined : await this.lake.metadataAt(key);
    if (!metadata) {
      throw new ApiError('NOT_AVAILABLE', 'a table metadata file named by the manifest is not readable here', {
        context: { file: location },
        hint: 'the server reads the lake its pg-cdc.yml points at: check storage in pg-cdc.yml',
      });
    }
    return metadata;
  }

  /**
   * The live files of a table at a snapshot, read through the metadata file `metadataLocation` when given (what a
   * manifest version names, so a ref reads exactly that version's view) or the catalog's current one.
   */
  files(identifier: string, snapshotId: bigint, metadataLocation?: string): Promise<SnapshotFiles> {
    const metadataKey = metadataLocation === undefined ? undefined : this.store.keyOf(metadataLocation);
    // The catalog, except that this table resolves to the pinned metadata file.
    const pinned = (id: string) => Promise.resolve({ identifier: id, metadataKey: metadataKey!, location: '' });
    const catalog: Catalog =
      metadataKey === undefined
        ? this.catalog
        : Object.assign(Object.create(this.catalog) as Catalog, { loadTable: pinned });
    return currentDataFiles(this.store, catalog, identifier, { snapshotId });
  }
}
