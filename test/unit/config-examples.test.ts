import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, parseDuration, type PgCdcConfig } from '../../core/config/index.js';

const MINIMAL = `source:\n  postgres:\n    url: "postgresql://cdc@db.internal:5432/app"\n`;

function parse(text: string, env: NodeJS.ProcessEnv = {}): PgCdcConfig {
  return parseConfig(text, { env, baseDir: '/srv/cdc' });
}

describe('reference examples', () => {
  it('parses the minimal filesystem example', () => {
    const config = parse(
      `
# pg-cdc.yml
source:
  postgres:
    url: "postgresql://cdc_user:\${PGCDC_PASSWORD}@host:5432/db"
    schemas: ["public"]
    provider: auto                 # auto | self-managed | rds | aurora

storage:
  type: filesystem                 # filesystem | s3   (gcs is a stub)
  path: /var/lib/pg-cdc/output/

replication:
  publication: pg_cdc_pub
  slot: pg_cdc_slot

flush:
  interval_sec: 10
  max_rows: 1000
`,
      { PGCDC_PASSWORD: 's3cret' },
    );
    assert.equal(config.source.postgres.url, 'postgresql://cdc_user:s3cret@host:5432/db');
    assert.equal(config.storage.type, 'filesystem');
    assert.ok(config.storage.type === 'filesystem');
    assert.equal(config.storage.path, '/var/lib/pg-cdc/output');
    assert.equal(config.flush.max_rows, 1000);
  });

  it('parses the governed S3 + Iceberg + Lake Formation example', () => {
    const config = parse(`
source:
  postgres:
    url: "postgresql://cdc_user@my-db.abc.us-west-2.rds.amazonaws.com:5432/db?sslmode=require"
    schemas: ["public"]
    provider: aurora
    iam_auth: true                 # short-lived RDS/Aurora IAM tokens, no static password

storage:
  type: s3
  bucket: my-governed-warehouse
  prefix: cdc/
  region: us-west-2

catalog:
  type: iceberg                    # glue (Hive/Parquet) | iceberg
  warehouse: s3://my-governed-warehouse/cdc/
  database: my_db
  region: us-west-2
  acl_table: my-acl-table          # DynamoDB ACL intent table

governance:
  catalog: glue
  mode: strict                     # refuse to publish untagged tables
  require_tags: ["sensitivity"]

replication:
  publication: pg_cdc_pub
  slot: pg_cdc_slot
  heartbeat_interval_sec: 30       # keep an idle slot advancing (Aurora Serverless v2)

guardrail:
  max_retained_wal_bytes: 10737418240   # alarm if the slot pins > 10 GiB of WAL
`);
    assert.equal(config.source.postgres.provider, 'aurora');
    assert.equal(config.source.postgres.iam_auth, true);
    assert.ok(config.storage.type === 's3');
    assert.equal(config.storage.bucket, 'my-governed-warehouse');
    assert.equal(config.storage.prefix, 'cdc/');
    assert.equal(config.storage.force_path_style, false);
    assert.equal(config.catalog.type, 'iceberg');
    assert.equal(config.catalog.warehouse, 's3://my-governed-warehouse/cdc/');
    assert.equal(config.catalog.acl_table, 'my-acl-table');
    assert.deepEqual(config.governance.require_tags, ['sensitivity']);
    assert.equal(config.governance.mode, 'strict');
    assert.equal(config.guardrail.max_retained_wal_bytes, 10737418240);
  });

  it('derives the catalog warehouse and region from S3 storage', () => {
    const config = parse(`${MINIMAL}storage: { type: s3, bucket: lake, prefix: /raw/, region: eu-west-1 }\n`);
    assert.equal(config.catalog.warehouse, 's3://lake/raw/');
    assert.equal(config.catalog.region, 'eu-west-1');
  });
});

describe('parseDuration', () => {
  it('parses units and compounds into milliseconds', () => {
    assert.equal(parseDuration('15m'), 900_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('2d'), 172_800_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('500ms'), 500);
  });

  it('rejects anything else', () => {
    for (const bad of ['', '10', 'h', '0m', '1 hour', '-5m']) assert.throws(() => parseDuration(bad), RangeError);
  });
});
