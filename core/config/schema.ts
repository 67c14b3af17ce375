/**
 * The pg-cdc.yml schema. Objects are strict (unknown keys are errors), every key has a default except
 * `source.postgres.url` (or `embedded: true`) and `storage.bucket` for S3. Keys mirror the file (snake_case).
 * Defaults that depend on other keys (storage.path, spool.dir, catalog.warehouse, flush.max_bytes) are filled in by the
 * final transform; relative paths are resolved against the config file's directory by load.ts.
 */
import { z } from 'zod';
import {
  always,
  checkCompaction,
  checkConfig,
  checkCredentials,
  checkPostgres,
  checkReconnect,
  checkTables,
  checkTls,
} from './rules.js';
import {
  bool,
  derivedNum,
  duration,
  hostPort,
  identifier,
  isRecord,
  matching,
  nonEmpty,
  num,
  postgresUrl,
  sha256Hex,
  slotName,
  tableGlob,
  toBoolean,
  toNumber,
} from './fields.js';
import { DEFAULT_MEMORY_LIMIT_MB, flushMaxBytesFor, MIN_MEMORY_LIMIT_MB } from './memory.js';

export { parseDuration, tryParseDuration } from './duration.js';

export const DEFAULT_CONFIG_FILE = 'pg-cdc.yml';

const logSchema = z.strictObject({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
  format: z.enum(['auto', 'json', 'pretty']).default('auto'),
});

const reconnectSchema = z
  .strictObject({
    initial_delay_sec: num({ above: 0, unit: 'seconds' }, 1),
    max_delay_sec: num({ above: 0, unit: 'seconds' }, 30),
    max_attempts: num({ int: true, min: 1 }, 10),
  })
  .superRefine(checkReconnect, always);

const postgresSchema = z
  .strictObject({
    url: postgresUrl().optional(),
    embedded: bool(false),
    schemas: z.array(identifier()).min(1).default(['public']),
    provider: z.enum(['auto', 'self-managed', 'rds', 'aurora']).default('auto'),
    iam_auth: bool(false),
    password_file: nonEmpty().optional(),
    region: nonEmpty().optional(),
    application_name: nonEmpty().default('pg-cdc'),
    connect_timeout_sec: num({ above: 0, unit: 'seconds' }, 10),
    reconnect: reconnectSchema.prefault({}),
  })
  .superRefine(checkPostgres, always)
  .superRefine(checkCredentials, always);

const sourceSchema = z.strictObject({ postgres: postgresSchema.prefault({}) });

const tagSet = z.record(nonEmpty(), z.string());

const tablesSchema = z
  .strictObject({
    include: z.array(tableGlob()).default([]),
    exclude: z.array(tableGlob()).default([]),
    tags: z.record(z.string(), tagSet).default({}),
    policy: z.enum(['all', 'listed']).default('all'),
  })
  .superRefine((tables, ctx) => checkTables(tables, ctx, (p) => tableGlob().safeParse(p).success), always);

const filesystemStorageSchema = z.strictObject({
  type: z.literal('filesystem'),
  path: nonEmpty().optional(),
});

/** Conflicts (a conditional PUT refused) tolerated within the window before the writer stops itself. */
const conflictBreakerSchema = z.strictObject({
  max_conflicts: num({ int: true, min: 1 }, 10),
  window_sec: num({ above: 0, unit: 'seconds' }, 60),
});

const s3StorageSchema = z.strictObject({
  type: z.literal('s3'),
  bucket: nonEmpty(),
  prefix: z.string().default(''),
  region: nonEmpty().optional(),
  endpoint: nonEmpty().optional(),
  /** Unset: path-style when `endpoint` is set (MinIO, moto, most S3-compatible stores), virtual-hosted otherwise. */
  force_path_style: z.preprocess(toBoolean, z.boolean()).optional(),
  /** Attempts per request, the first included, with the SDK's standard retry mode. */
  max_attempts: num({ int: true, min: 1 }, 5),
  conflict_breaker: conflictBreakerSchema.prefault({}),
});

/** `type` defaults to filesystem, so `storage: { path: ./lake }` works. */
const storageSchema = z.preprocess(
  (value) => (isRecord(value) && value.type === undefined ? { ...value, type: 'filesystem' } : value),
  z.discriminatedUnion('type', [filesystemStorageSchema, s3StorageSchema]),
);

const catalogSchema = z.strictObject({
  type: z.enum(['local', 'iceberg', 'glue']).default('local'),
  warehouse: nonEmpty().optional(),
  database: identifier().default('pg_cdc'),
  region: nonEmpty().optional(),
  endpoint: nonEmpty().optional(),
  acl_table: nonEmpty().optional(),
});

const roleSchema = z.strictObject({
  grant: nonEmpty(),
  description: z.string().optional(),
  /** The IAM principal Lake Formation grants this role's tag policies to (`governance.catalog: glue`). */
  principal_arn: nonEmpty().optional(),
  /** What the role may read besides `main` and its history: `staging` (epochs not promoted yet). */
  refs: z.array(z.enum(['main', 'staging'])).default(['main']),
});

const governanceSchema = z.strictObject({
  catalog: z.enum(['local', 'glue']).default('local'),
  registry: z.enum(['local', 'dynamodb']).default('local'),
  mode: z.enum(['permissive', 'strict']).default('permissive'),
  /** Columns added while streaming: `inherit` their table's tags, or stay `hidden` until classified (strict's default). */
  new_columns: z.enum(['inherit', 'hidden']).optional(),
  require_tags: z.array(nonEmpty()).default([]),
  roles: z
    .record(
      matching(
        (v) => /^[A-Za-z0-9_.-]+$/.test(v),
        (v) => `"${v}" is not a valid role name`,
        'use letters, digits, _, - and .',
      ),
      roleSchema,
    )
    .default({}),
});

const replicationSchema = z.strictObject({
  publication: identifier().default('pg_cdc_pub'),
  slot: slotName().default('pg_cdc_slot'),
  heartbeat_interval_sec: num({ min: 0, unit: 'seconds; 0 disables' }, 30),
  protocol_version: z.preprocess(toNumber, z.literal(['auto', 1, 2])).default('auto'),
  table_check_interval_sec: num({ min: 0, unit: 'seconds; 0 disables' }, 10),
});

const flushSchema = z.strictObject({
  interval_sec: num({ above: 0, unit: 'seconds' }, 10),
  max_rows: num({ int: true, min: 1 }, 1000),
  max_bytes: derivedNum({ int: true, min: 1 }, 'an eighth of memory.limit_mb'),
});

const memorySchema = z.strictObject({
  limit_mb: num({ int: true, min: MIN_MEMORY_LIMIT_MB, unit: 'MiB' }, DEFAULT_MEMORY_LIMIT_MB),
});

const spoolSchema = z.strictObject({
  dir: nonEmpty().optional(),
  max_bytes: num({ int: true, min: 1 }, 1_073_741_824),
});

const guardrailSchema = z.strictObject({
  max_retained_wal_bytes: num({ int: true, min: 0 }, 10_737_418_240),
});

const initSchema = z.strictObject({
  parallel_workers: num({ int: true, min: 1, max: 64 }, 4),
  chunk_target_bytes: num({ int: true, min: 1 }, 268_435_456),
  zstd_level: num({ int: true, min: 1, max: 22 }, 1),
});

/** `0` (keep everything) or a duration. */
const retention = () =>
  z.union([z.preprocess(toNumber, z.literal(0)), duration()], {
    error: 'must be 0 (keep everything) or a duration such as 7d',
  });

const compactionSchema = z
  .strictObject({
    schedule: duration().default('1h'),
    retain_snapshots: num({ int: true, min: 1 }, 100),
    retain_versions: num({ int: true, min: 1 }, 100),
    target_file_size_bytes: num({ int: true, min: 1_048_576 }, 536_870_912),
    min_small_files: num({ int: true, min: 2 }, 10),
    min_delete_ratio: num({ above: 0, max: 1 }, 0.1),
    changelog_retention: retention().optional(),
    orphan_grace: duration().default('3d'),
    /** The reference's name for the changelog's retention, in hours; accepted for drop-in configs. */
    tombstone_ttl_hours: z
      .preprocess(toNumber, z.number().min(0, { error: 'must be a number >= 0 (hours)' }))
      .optional(),
  })
  .superRefine(checkCompaction, always)
  .transform(({ tombstone_ttl_hours: hours, changelog_retention, ...compaction }) => ({
    ...compaction,
    changelog_retention: changelog_retention ?? (hours ? `${hours}h` : 0),
  }));

const promotionSchema = z.strictObject({
  mode: z.enum(['auto', 'manual']).default('auto'),
  /** The `raw@<time>` tag on each epoch's snapshot of a state table: how many stay, and for how long at most. */
  raw_tags: z
    .strictObject({
      keep: num({ int: true, min: 0, unit: '0 tags nothing' }, 100),
      max_age: duration().default('7d'),
    })
    .prefault({}),
});

const tokenSchema = z.strictObject({ principal: nonEmpty(), sha256: sha256Hex() });

const serveSchema = z.strictObject({
  http: z
    .strictObject({
      host: nonEmpty().default('127.0.0.1'),
      port: num({ int: true, min: 0, max: 65535 }, 8080),
      body_limit_bytes: num({ int: true, min: 1 }, 1_048_576),
      rate_limit_per_minute: num({ int: true, min: 1 }, 600),
      tokens: z.array(tokenSchema).default([]),
    })
    .prefault({}),
  mcp: z.strictObject({ principal: nonEmpty().optional() }).prefault({}),
  query: z
    .strictObject({
      row_limit: num({ int: true, min: 1 }, 10_000),
      timeout_ms: num({ int: true, min: 1, unit: 'milliseconds' }, 30_000),
    })
    .prefault({}),
});

const runsSchema = z.strictObject({
  /** Run directories (`<state_dir>/runs/<run-id>/`) kept; older ones are removed when a run starts. */
  keep: num({ int: true, min: 1, max: 10_000 }, 50),
});

const metricsSchema = z.strictObject({
  listen: hostPort(false, '127.0.0.1:9090').default('127.0.0.1:9090'),
  /** A `table` label on per-table families: one series per table, so off unless asked for. */
  table_labels: bool(false),
});

const tlsSchema = z
  .strictObject({
    server_name: nonEmpty().optional(),
    ca_file: nonEmpty().optional(),
    cert_file: nonEmpty().optional(),
    key_file: nonEmpty().optional(),
  })
  .superRefine(checkTls, always);

const temporalSchema = z.strictObject({
  address: hostPort(true, 'localhost:7233', 'embedded').default('embedded'),
  namespace: nonEmpty().default('default'),
  task_queue: nonEmpty().default('pg-cdc'),
  tls: tlsSchema.optional(),
  api_key: nonEmpty().optional(),
  embedded: z
    .strictObject({
      ui: bool(true),
      port: num({ int: true, min: 0, max: 65535, unit: '0 picks a free port' }, 0),
      ui_port: num({ int: true, min: 0, max: 65535, unit: '0 picks a free port' }, 0),
    })
    .prefault({}),
});

const rawConfigSchema = z
  .strictObject({
    state_dir: nonEmpty().default('.pg-cdc'),
    log: logSchema.prefault({}),
    source: sourceSchema.prefault({}),
    tables: tablesSchema.prefault({}),
    storage: storageSchema.prefault({}),
    catalog: catalogSchema.prefault({}),
    governance: governanceSchema.prefault({}),
    replication: replicationSchema.prefault({}),
    flush: flushSchema.prefault({}),
    memory: memorySchema.prefault({}),
    spool: spoolSchema.prefault({}),
    guardrail: guardrailSchema.prefault({}),
    init: initSchema.prefault({}),
    compaction: compactionSchema.prefault({}),
    promotion: promotionSchema.prefault({}),
    serve: serveSchema.prefault({}),
    metrics: metricsSchema.prefault({}),
    runs: runsSchema.prefault({}),
    temporal: temporalSchema.prefault({}),
  })
  .superRefine(checkConfig, always);

function under(dir: string, name: string): string {
  return `${dir.replace(/[\\/]+$/, '') || '/'}/${name}`.replace(/^\/\//, '/');
}

/** The full schema: parse, then fill in defaults derived from other keys. */
export const configSchema = rawConfigSchema.transform((config) => {
  const storage =
    config.storage.type === 'filesystem'
      ? { ...config.storage, path: config.storage.path ?? under(config.state_dir, 'lake') }
      : {
          ...config.storage,
          force_path_style: config.storage.force_path_style ?? config.storage.endpoint !== undefined,
        };
  const derivedWarehouse =
    storage.type === 'filesystem' ? storage.path : `s3://${storage.bucket}/${storage.prefix.replace(/^\/+/, '')}`;
  const catalog = {
    ...config.catalog,
    warehouse: config.catalog.warehouse ?? derivedWarehouse,
    region: config.catalog.region ?? (storage.type === 's3' ? storage.region : undefined),
  };
  const spool = { ...config.spool, dir: config.spool.dir ?? under(config.state_dir, 'spool') };
  const flush = {
    ...config.flush,
    max_bytes: config.flush.max_bytes ?? flushMaxBytesFor(config.memory.limit_mb),
  };
  // The password of source.postgres.url as written, when it references ${VAR}s: load.ts fills it in, and every
  // connection resolves it again (source/credentials.ts), so a rotated secret reaches the next reconnect.
  const postgres = { ...config.source.postgres, password_reference: undefined as string | undefined };
  return { ...config, source: { ...config.source, postgres }, storage, catalog, spool, flush };
});

export type PgCdcConfig = z.infer<typeof configSchema>;
export type LogConfig = PgCdcConfig['log'];
export type SourceConfig = PgCdcConfig['source'];
export type PostgresSourceConfig = SourceConfig['postgres'];
export type ReconnectConfig = PostgresSourceConfig['reconnect'];
export type TablesConfig = PgCdcConfig['tables'];
export type StorageConfig = PgCdcConfig['storage'];
export type FilesystemStorageConfig = Extract<StorageConfig, { type: 'filesystem' }>;
export type S3StorageConfig = Extract<StorageConfig, { type: 's3' }>;
export type CatalogConfig = PgCdcConfig['catalog'];
export type GovernanceConfig = PgCdcConfig['governance'];
export type GovernanceRole = GovernanceConfig['roles'][string];
export type ReplicationConfig = PgCdcConfig['replication'];
export type FlushConfig = PgCdcConfig['flush'];
export type SpoolConfig = PgCdcConfig['spool'];
export type MemoryConfig = PgCdcConfig['memory'];
export type GuardrailConfig = PgCdcConfig['guardrail'];
export type InitConfig = PgCdcConfig['init'];
export type CompactionConfig = PgCdcConfig['compaction'];
export type PromotionConfig = PgCdcConfig['promotion'];
export type ServeConfig = PgCdcConfig['serve'];
export type HttpServeConfig = ServeConfig['http'];
export type HttpToken = HttpServeConfig['tokens'][number];
export type McpServeConfig = ServeConfig['mcp'];
export type QueryServeConfig = ServeConfig['query'];
export type MetricsConfig = PgCdcConfig['metrics'];
export type TemporalConfig = PgCdcConfig['temporal'];
export type TemporalTlsConfig = NonNullable<TemporalConfig['tls']>;
export type TemporalEmbeddedConfig = TemporalConfig['embedded'];
