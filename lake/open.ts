import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { CatalogConfig, StorageConfig } from '../core/config/index.js';
import type { Logger } from '../core/log/index.js';
import { BoundedCache } from './cache.js';
import type { Catalog } from './catalog/index.js';
import { HiveGlueCatalog } from './catalog/glue-hive.js';
import { GlueCatalog } from './catalog/glue.js';
import { instrumentCatalog } from './catalog/instrumented.js';
import { LocalCatalog } from './catalog/local.js';
import { parseTableMetadata, type TableMetadata } from './iceberg/metadata.js';
import { ManifestStore } from './manifest.js';
import { FilesystemObjectStore } from './storage/filesystem.js';
import { instrumentStore } from './storage/instrumented.js';
import { decodeUtf8, type ObjectStore } from './storage/index.js';
import { S3ObjectStore } from './storage/s3.js';

/**
 * The lake as every command, activity, engine and server sees it: the store, the catalog and pg-cdc's manifest,
 * opened from the configuration in one place. This is the only place that picks a storage (filesystem or S3) and a
 * catalog (local, Iceberg tables in AWS Glue, or Hive tables in Glue beside the local one) behind their
 * interfaces, and the only owner of the caches a process keeps of the lake: two readers of one lake in one process
 * (the query engine and the API's views in `pg-cdc serve`) share one lake and its caches.
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
  readonly catalog: Pick<CatalogConfig, 'type'> & Partial<Pick<CatalogConfig, 'database' | 'region' | 'endpoint'>>;
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
  if (storage.type === 's3') {
    const endpoint = storage.endpoint ?? '';
    const prefix = storage.prefix.replace(/^\/+|\/+$/g, '');
    const identity = `s3:${endpoint}|${storage.bucket}/${prefix}|${catalogIdentity(catalog)}`;
    if (options.log) breakerLogs.set(identity, options.log);
    const existing = opened.get(identity);
    if (existing) return existing;
    const s3 = new S3ObjectStore({
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
    const store = instrumentStore(s3);
    const location = s3.readRoot.replace(/\/$/, '');
    const lake = assemble(store, (metadataAt) => openCatalog(catalog, store, metadataAt), location, undefined);
    opened.set(identity, lake);
    return lake;
  }
  const root = resolve(storage.path);
  const identity = `filesystem:${root}|${catalogIdentity(catalog)}`;
  const existing = opened.get(identity);
  if (existing) return existing;
  // Everything reads and writes through the instrumented store, so the process's metrics see every request.
  const store = instrumentStore(new FilesystemObjectStore(root));
  const lake = assemble(store, (metadataAt) => openCatalog(catalog, store, metadataAt), `file://${root}`, root);
  opened.set(identity, lake);
  return lake;
}

const catalogIdentity = (catalog: LakeConfig['catalog']): string =>
  catalog.type === 'local'
    ? 'catalog:local'
    : `catalog:${catalog.type}:${catalog.database}@${catalog.endpoint ?? catalog.region}`;

/** The catalog `catalog.type` names over `store`; `metadataAt` is the lake's cached metadata reader. */
function openCatalog(catalog: LakeConfig['catalog'], store: ObjectStore, metadataAt: Lake['metadataAt']): Catalog {
  if (catalog.type === 'local') return new LocalCatalog(store);
  const glue = {
    database: catalog.database ?? 'pg_cdc',
    region: catalog.region,
    endpoint: catalog.endpoint,
    readMetadata: metadataAt,
  };
  // glue: the Iceberg pointers stay in the warehouse, and Glue gets Hive tables of each compacted base.
  if (catalog.type === 'glue') return new HiveGlueCatalog(new LocalCatalog(store), store, glue);
  return new GlueCatalog(store, glue);
}

/** `store` is instrumented already (the catalog writes through it too); the catalog is instrumented here. */
function assemble(
  store: ObjectStore,
  catalogOf: (metadataAt: Lake['metadataAt']) => Catalog,
  location: string,
  root: string | undefined,
): Lake {
  const metadata = new BoundedCache<string, TableMetadata>(METADATA_CACHE_LIMIT);
  const metadataAt: Lake['metadataAt'] = async (key) => {
    const cached = metadata.get(key);
    if (cached) return cached;
    const body = await store.get(key);
    // A missing file is not remembered: it may be one a writer is about to create.
    return body && metadata.remember(key, parseTableMetadata(decodeUtf8(body), key));
  };
  return {
    store,
    catalog: instrumentCatalog(catalogOf(metadataAt)),
    manifest: new ManifestStore(store),
    location,
    root,
    metadataAt,
  };
}
