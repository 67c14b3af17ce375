import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { CatalogConfig, StorageConfig } from '../core/config/index.js';
import type { Logger } from '../core/log/index.js';
import { BoundedCache } from './cache.js';
import type { Catalog } from './catalog/index.js';
import { LocalCatalog } from './catalog/local.js';
import { LakeKindNotAvailableError } from './errors.js';
import { parseTableMetadata, type TableMetadata } from './iceberg/metadata.js';
import { ManifestStore } from './manifest.js';
import { FilesystemObjectStore } from './storage/filesystem.js';
import { decodeUtf8, type ObjectStore } from './storage/index.js';
import { S3ObjectStore } from './storage/s3.js';

/**
 * The lake as every command, activity, engine and server sees it: the store, the catalog and pg-cdc's manifest,
 * opened from the configuration in one place. This is the only place that picks a storage (filesystem or S3) and a
 * catalog (local; AWS Glue later) behind their interfaces, and the only owner of the caches a process keeps of the
 * lake: two readers of one lake in one process (the query engine and the API's views in `pg-cdc serve`) share one
 * lake and its caches.
 */
export interface Lake {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  readonly manifest: ManifestStore;
  /** The warehouse root as a URI (what Iceberg metadata calls locations): `file:///abs/path` or `s3://bucket/prefix`. */
  readonly location: string;
  /** The lake's directory on a filesystem; none on object storage (DuckDB reads `store.readRoot` either way). */
  readonly root: string | undefined;
  /**
   * The table metadata in the file at `key`; undefined when there is no such file. A metadata file is never
   * rewritten (each commit writes a new one under a new name), so it is read once per process.
   */
  metadataAt(key: string): Promise<TableMetadata | undefined>;
}

/** What opening the lake reads of pg-cdc.yml (a whole PgCdcConfig will do). */
export interface LakeConfig {
  readonly storage: StorageConfig;
  readonly catalog: Pick<CatalogConfig, 'type'>;
  /** Object storage stages Parquet files under `<state_dir>/staging` (the OS temp dir without one). */
  readonly state_dir?: string;
}

const METADATA_CACHE_LIMIT = 512;

/** Opened lakes by what identifies them, so that every caller in a process shares one lake and its caches. */
const opened = new Map<string, Lake>();
/** Who hears that a lake's conflict breaker stopped this process's writes: the last opener that brought a log. */
const breakerLogs = new Map<string, Logger>();

/**
 * Opens the lake `config` describes, or returns the one this process already opened. A kind the configuration
 * accepts but this version cannot open fails here, naming the setting, before anything is read or written. `log`
 * is told when the S3 conflict breaker stops this process's writes.
 */
export function openLake(config: LakeConfig, options: { readonly log?: Logger } = {}): Lake {
  const { storage, catalog } = config;
  // The seam for the AWS catalogs: a Glue catalog is picked here, over the same store.
  if (catalog.type !== 'local') {
    throw new LakeKindNotAvailableError(
      'catalog.type',
      catalog.type,
      'set catalog.type: local (the catalog kept in the warehouse) for now; the AWS Glue catalogs come later',
    );
  }
  if (storage.type === 's3') {
    const endpoint = storage.endpoint ?? '';
    const identity = `s3:${endpoint}|${storage.bucket}/${storage.prefix.replace(/^\/+|\/+$/g, '')}|catalog:local`;
    if (options.log) breakerLogs.set(identity, options.log);
    const existing = opened.get(identity);
    if (existing) return existing;
    const store = new S3ObjectStore({
      bucket: storage.bucket,
      prefix: storage.prefix,
      ...(storage.region === undefined ? {} : { region: storage.region }),
      ...(storage.endpoint === undefined ? {} : { endpoint: storage.endpoint }),
      forcePathStyle: storage.force_path_style,
      maxAttempts: storage.max_attempts,
      breaker: {
        maxConflicts: storage.conflict_breaker.max_conflicts,
        windowMs: storage.conflict_breaker.window_sec * 1000,
      },
      stagingRoot: join(config.state_dir ?? join(tmpdir(), 'pg-cdc'), 'staging'),
      onWriterStopped: (error) =>
        breakerLogs
          .get(identity)
          ?.error({ err: error, ...error.context }, 'conflict breaker tripped: this writer stopped'),
    });
    const lake = assemble(store, new LocalCatalog(store), store.readRoot.replace(/\/$/, ''), undefined);
    opened.set(identity, lake);
    return lake;
  }
  const root = resolve(storage.path);
  const identity = `filesystem:${root}|catalog:local`;
  const existing = opened.get(identity);
  if (existing) return existing;
  const store = new FilesystemObjectStore(root);
  const lake = assemble(store, new LocalCatalog(store), `file://${root}`, root);
  opened.set(identity, lake);
  return lake;
}

function assemble(store: ObjectStore, catalog: Catalog, location: string, root: string | undefined): Lake {
  const metadata = new BoundedCache<string, TableMetadata>(METADATA_CACHE_LIMIT);
  return {
    store,
    catalog,
    manifest: new ManifestStore(store),
    location,
    root,
    async metadataAt(key) {
      const cached = metadata.get(key);
      if (cached) return cached;
      const body = await store.get(key);
      // A missing file is not remembered: it may be one a writer is about to create.
      return body && metadata.remember(key, parseTableMetadata(decodeUtf8(body), key));
    },
  };
}
