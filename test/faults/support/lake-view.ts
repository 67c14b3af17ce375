import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { changelogIdentifier } from '../../../lake/contract/naming.js';
import type { PgCdcManifest } from '../../../lake/manifest.js';
import { openLake, type Lake } from '../../../lake/open.js';
import { openDuckDB } from '../../../lake/parquet/writer.js';
import { currentDataFiles } from '../../../lake/reader.js';
import { liveRowsSql } from '../../../lake/scan.js';
import type { DuckDbS3 } from '../../support/readers.js';
import { tempDir } from '../../support/temp.js';

/** moto's credentials, for pg-cdc (through the default provider chain, as in production) and for the readers. */
export const MOTO_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_REGION: 'us-east-1',
} as const;

/**
 * A case's lake as the checks read it: on the filesystem where `pg-cdc start` writes it, or in a moto bucket read
 * straight from moto while pg-cdc writes through the faulty proxy in front of it. Nothing here goes through pg-cdc's
 * processes: the checks see what is durable in the lake.
 */
export interface CaseLake {
  /** The `storage:` lines of the case's pg-cdc.yml (none for the filesystem lake under `state_dir`). */
  readonly configLines: readonly string[];
  /** Environment for pg-cdc's processes. */
  readonly env: NodeJS.ProcessEnv;
  manifest(): Promise<PgCdcManifest | undefined>;
  /** Live rows of a table's current snapshot through DuckDB (pg-cdc's own reader), `select` over alias `d`. */
  rows(table: string, select: string): Promise<Record<string, unknown>[]>;
  /** Every distinct commit LSN in a table's changelog. */
  commitLsns(table: string): Promise<bigint[]>;
  /** The URI of a table's current metadata file, for PyIceberg and DuckDB's iceberg_scan. */
  metadataLocation(table: string): Promise<string>;
  readonly pyIcebergProperties: Record<string, string>;
  readonly duckDbS3: DuckDbS3 | undefined;
}

function view(lake: Lake, rest: Pick<CaseLake, 'configLines' | 'env' | 'pyIcebergProperties' | 'duckDbS3'>): CaseLake {
  const rows = async (table: string, select: string): Promise<Record<string, unknown>[]> => {
    const files = await currentDataFiles(lake.store, lake.catalog, table);
    const sql = liveRowsSql(files, { select });
    if (!sql) return [];
    const duck = await openDuckDB({ threads: 1, store: lake.store, allowedDirectories: [lake.store.readRoot] });
    try {
      return (await duck.connection.runAndReadAll(sql)).getRowObjectsJson();
    } finally {
      duck.close();
    }
  };
  return {
    ...rest,
    manifest: async () => (await lake.manifest.read())?.value,
    rows,
    commitLsns: async (table) =>
      (await rows(changelogIdentifier(table), 'DISTINCT d._commit_lsn::VARCHAR AS lsn')).map((r) =>
        BigInt(String(r.lsn)),
      ),
    metadataLocation: async (table) => lake.store.uri((await lake.catalog.loadTable(table)).metadataKey),
  };
}

/** The lake `pg-cdc start` writes under `<stateDir>/lake` by default. */
export function filesystemLake(stateDir: string): CaseLake {
  const lake = openLake({ storage: { type: 'filesystem', path: join(stateDir, 'lake') }, catalog: { type: 'local' } });
  return view(lake, { configLines: [], env: {}, pyIcebergProperties: {}, duckDbS3: undefined });
}

/**
 * A lake in a new bucket of moto at `motoEndpoint`; pg-cdc reaches it through `writeEndpoint` (the faulty proxy),
 * the checks directly.
 */
export async function s3Lake(motoEndpoint: string, writeEndpoint: string, bucket: string): Promise<CaseLake> {
  Object.assign(process.env, MOTO_CREDENTIALS);
  const s3 = new S3Client({ endpoint: motoEndpoint, region: MOTO_CREDENTIALS.AWS_REGION, forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  s3.destroy();
  const lake = openLake({
    storage: {
      type: 's3',
      bucket,
      prefix: 'lake',
      endpoint: motoEndpoint,
      region: MOTO_CREDENTIALS.AWS_REGION,
      force_path_style: true,
      max_attempts: 5,
      conflict_breaker: { max_conflicts: 1000, window_sec: 60 },
    },
    catalog: { type: 'local' },
    state_dir: join(tempDir(), 'reader-state'),
  });
  return view(lake, {
    configLines: [
      'storage:',
      '  type: s3',
      `  bucket: ${bucket}`,
      '  prefix: lake',
      `  endpoint: ${writeEndpoint}`,
      `  region: ${MOTO_CREDENTIALS.AWS_REGION}`,
    ],
    env: { ...MOTO_CREDENTIALS },
    pyIcebergProperties: {
      's3.endpoint': motoEndpoint,
      's3.access-key-id': MOTO_CREDENTIALS.AWS_ACCESS_KEY_ID,
      's3.secret-access-key': MOTO_CREDENTIALS.AWS_SECRET_ACCESS_KEY,
      's3.region': MOTO_CREDENTIALS.AWS_REGION,
      's3.force-virtual-addressing': 'false',
    },
    duckDbS3: {
      endpoint: new URL(motoEndpoint).host,
      region: MOTO_CREDENTIALS.AWS_REGION,
      key_id: MOTO_CREDENTIALS.AWS_ACCESS_KEY_ID,
      secret: MOTO_CREDENTIALS.AWS_SECRET_ACCESS_KEY,
    },
  });
}
