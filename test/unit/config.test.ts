import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, type ConfigIssue } from '../../core/errors/index.js';
import { DEFAULT_CONFIG_FILE, parseConfig, type PgCdcConfig } from '../../core/config/index.js';

const URL = 'postgresql://cdc@db.internal:5432/app';
const MINIMAL = `source:\n  postgres:\n    url: "${URL}"\n`;

function parse(text: string, env: NodeJS.ProcessEnv = {}, baseDir = '/srv/cdc'): PgCdcConfig {
  return parseConfig(text, { env, baseDir });
}

function problems(text: string, env: NodeJS.ProcessEnv = {}): readonly ConfigIssue[] {
  try {
    parse(text, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.issues;
  }
  assert.fail('expected the configuration to be rejected');
}

/** The single issue at `path`; fails when there is none. */
function issueAt(text: string, path: string, env: NodeJS.ProcessEnv = {}): ConfigIssue {
  const all = problems(text, env);
  const found = all.find((issue) => issue.path === path);
  assert.ok(found, `no issue at ${path}; got ${JSON.stringify(all)}`);
  return found;
}

describe('defaults', () => {
  it('fills every default for a minimal file', () => {
    const config = parse(MINIMAL);
    assert.equal(DEFAULT_CONFIG_FILE, 'pg-cdc.yml');
    assert.equal(config.state_dir, '/srv/cdc/.pg-cdc');
    assert.deepEqual(config.log, { level: 'info', format: 'auto' });
    assert.equal(config.source.postgres.url, URL);
    assert.equal(config.source.postgres.embedded, false);
    assert.deepEqual(config.source.postgres.schemas, ['public']);
    assert.equal(config.source.postgres.provider, 'auto');
    assert.equal(config.source.postgres.application_name, 'pg-cdc');
    assert.equal(config.source.postgres.connect_timeout_sec, 10);
    assert.deepEqual(config.source.postgres.reconnect, { initial_delay_sec: 1, max_delay_sec: 30, max_attempts: 10 });
    assert.deepEqual(config.tables, { include: [], exclude: [], tags: {}, policy: 'all' });
    assert.deepEqual(config.storage, { type: 'filesystem', path: '/srv/cdc/.pg-cdc/lake' });
    assert.equal(config.catalog.type, 'local');
    assert.equal(config.catalog.database, 'pg_cdc');
    assert.equal(config.catalog.warehouse, '/srv/cdc/.pg-cdc/lake');
    assert.deepEqual(config.governance, {
      catalog: 'local',
      registry: 'local',
      mode: 'permissive',
      require_tags: [],
      roles: {},
    });
    assert.deepEqual(config.replication, {
      publication: 'pg_cdc_pub',
      slot: 'pg_cdc_slot',
      heartbeat_interval_sec: 30,
      protocol_version: 'auto',
      table_check_interval_sec: 10,
    });
    assert.deepEqual(config.flush, { interval_sec: 10, max_rows: 1000, max_bytes: 67108864 });
    assert.deepEqual(config.memory, { limit_mb: 512 });
    assert.deepEqual(config.spool, { dir: '/srv/cdc/.pg-cdc/spool', max_bytes: 1073741824 });
    assert.equal(config.guardrail.max_retained_wal_bytes, 10737418240);
    assert.deepEqual(config.init, { parallel_workers: 4, chunk_target_bytes: 268435456, zstd_level: 1 });
    assert.deepEqual(config.compaction, {
      schedule: '1h',
      retain_snapshots: 100,
      retain_versions: 100,
      target_file_size_bytes: 536_870_912,
      min_small_files: 10,
      min_delete_ratio: 0.1,
      changelog_retention: 0,
      orphan_grace: '3d',
    });
    assert.equal(config.promotion.mode, 'auto');
    assert.deepEqual(config.serve.http, {
      host: '127.0.0.1',
      port: 8080,
      body_limit_bytes: 1048576,
      rate_limit_per_minute: 600,
      tokens: [],
    });
    assert.deepEqual(config.serve.query, { row_limit: 10000, timeout_ms: 30000 });
    assert.equal(config.metrics.listen, '127.0.0.1:9090');
    assert.equal(config.temporal.address, 'embedded');
    assert.equal(config.temporal.namespace, 'default');
    assert.equal(config.temporal.task_queue, 'pg-cdc');
    assert.equal(config.temporal.tls, undefined);
    assert.deepEqual(config.temporal.embedded, { ui: true, port: 0, ui_port: 0 });
  });

  it('treats an empty value (YAML null) as unset', () => {
    const config = parse(`${MINIMAL}flush:\ntables:\n  include:\n`);
    assert.equal(config.flush.max_rows, 1000);
    assert.deepEqual(config.tables.include, []);
  });

  it('accepts embedded: true instead of a url', () => {
    const config = parse('source: { postgres: { embedded: true } }');
    assert.equal(config.source.postgres.embedded, true);
    assert.equal(config.source.postgres.url, undefined);
  });
});

describe('result', () => {
  it('is deeply frozen', () => {
    const config = parse(`${MINIMAL}serve: { http: { tokens: [{ principal: ci, sha256: "${'a'.repeat(64)}" }] } }\n`);
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.source.postgres.reconnect));
    assert.ok(Object.isFrozen(config.source.postgres.schemas));
    assert.ok(Object.isFrozen(config.serve.http.tokens[0]));
    assert.throws(() => {
      (config.flush as { max_rows: number }).max_rows = 1;
    }, TypeError);
  });

  it('resolves relative paths against baseDir and keeps absolute ones', () => {
    const config = parse(
      `${MINIMAL}state_dir: ./state\nstorage: { path: ../lake }\nspool: { dir: /var/spool/pg-cdc }\n` +
        'temporal: { address: "temporal:7233", tls: { ca_file: certs/ca.pem } }\n',
    );
    assert.equal(config.state_dir, '/srv/cdc/state');
    assert.ok(config.storage.type === 'filesystem');
    assert.equal(config.storage.path, '/srv/lake');
    assert.equal(config.catalog.warehouse, '/srv/lake');
    assert.equal(config.spool.dir, '/var/spool/pg-cdc');
    assert.equal(config.temporal.tls?.ca_file, '/srv/cdc/certs/ca.pem');
  });

  it('derives storage.path and spool.dir from a relative state_dir, and baseDir from the file', () => {
    const config = parseConfig(`${MINIMAL}state_dir: data\n`, { env: {}, file: '/etc/pg-cdc/pg-cdc.yml' });
    assert.equal(config.state_dir, '/etc/pg-cdc/data');
    assert.ok(config.storage.type === 'filesystem');
    assert.equal(config.storage.path, '/etc/pg-cdc/data/lake');
    assert.equal(config.spool.dir, '/etc/pg-cdc/data/spool');
  });
});

describe('errors', () => {
  it('suggests the closest key for an unknown top-level key', () => {
    const issue = issueAt(`${MINIMAL}flsuh:\n  max_rows: 5\n`, 'flsuh');
    assert.equal(issue.message, 'unknown key "flsuh"');
    assert.equal(issue.hint, 'did you mean "flush"?');
  });

  it('suggests the closest key for nested unknown keys', () => {
    const text = `${MINIMAL}    reconect: {}\nflush: { maxRows: 5 }\n`;
    assert.equal(issueAt(text, 'source.postgres.reconect').hint, 'did you mean "reconnect"?');
    assert.equal(issueAt(text, 'flush.maxRows').hint, 'did you mean "max_rows"?');
  });

  it('lists the allowed keys when nothing is close, and names the variant a key belongs to', () => {
    assert.match(issueAt(`${MINIMAL}flush: { zzz: 1 }\n`, 'flush.zzz').hint ?? '', /allowed keys here: interval_sec/);
    assert.match(issueAt(`${MINIMAL}storage: { path: x, bucket: b }\n`, 'storage.bucket').hint ?? '', /type: s3/);
  });

  it('reports wrong types as expected vs got', () => {
    const text = `${MINIMAL}    embedded: "yes"\nflush: { max_rows: lots }\ntables: { include: public.orders }\n`;
    assert.equal(issueAt(text, 'flush.max_rows').message, 'expected a number, got string "lots"');
    assert.equal(issueAt(text, 'source.postgres.embedded').message, 'expected true or false, got string "yes"');
    assert.equal(issueAt(text, 'tables.include').message, 'expected a list, got string "public.orders"');
  });

  it('rejects a negative interval with the allowed range', () => {
    const issue = issueAt(`${MINIMAL}flush: { interval_sec: -5 }\n`, 'flush.interval_sec');
    assert.match(issue.message, /must be a number > 0.*got -5/);
    assert.match(issue.hint ?? '', /default is 10/);
  });

  it('rejects max_rows 0 and fractional counts', () => {
    assert.match(issueAt(`${MINIMAL}flush: { max_rows: 0 }\n`, 'flush.max_rows').message, /an integer >= 1, got 0/);
    assert.match(issueAt(`${MINIMAL}init: { parallel_workers: 2.5 }\n`, 'init.parallel_workers').message, /1 and 64/);
    assert.match(issueAt(`${MINIMAL}init: { zstd_level: 23 }\n`, 'init.zstd_level').message, /1 and 22, got 23/);
  });

  it('rejects an out-of-range port', () => {
    const issue = issueAt(`${MINIMAL}serve: { http: { port: 70000 } }\n`, 'serve.http.port');
    assert.equal(issue.message, 'must be an integer between 0 and 65535, got 70000');
  });

  it('rejects a bad slot name and proposes a valid one', () => {
    const issue = issueAt(`${MINIMAL}replication: { slot: My-Slot }\n`, 'replication.slot');
    assert.match(issue.message, /not a valid replication slot name/);
    assert.match(issue.hint ?? '', /"my_slot"/);
    issueAt(`${MINIMAL}replication: { slot: "${'a'.repeat(64)}" }\n`, 'replication.slot');
  });

  it('rejects enum typos with a suggestion', () => {
    const issue = issueAt(`${MINIMAL}governance: { mode: strcit }\n`, 'governance.mode');
    assert.match(issue.message, /expected one of "permissive" \| "strict", got string "strcit"/);
    assert.equal(issue.hint, 'did you mean "strict"?');
  });

  it('requires a bucket for s3 storage', () => {
    const issue = issueAt(`${MINIMAL}storage: { type: s3 }\n`, 'storage.bucket');
    assert.match(issue.message, /is required/);
  });

  it('addresses S3 path-style when an endpoint is set, unless told otherwise, with the breaker defaults', () => {
    const s3 = (storage: string): PgCdcConfig['storage'] => parse(`${MINIMAL}storage: ${storage}\n`).storage;
    const minio = s3('{ type: s3, bucket: lake, endpoint: "http://minio:9000" }');
    assert.ok(minio.type === 's3');
    assert.equal(minio.force_path_style, true);
    assert.deepEqual(minio.conflict_breaker, { max_conflicts: 10, window_sec: 60 });
    assert.equal(minio.max_attempts, 5);
    const aws = s3('{ type: s3, bucket: lake }');
    assert.ok(aws.type === 's3' && aws.force_path_style === false);
    const vhost = s3('{ type: s3, bucket: lake, endpoint: "https://s3.example", force_path_style: false }');
    assert.ok(vhost.type === 's3' && vhost.force_path_style === false);
    const breaker = s3('{ type: s3, bucket: lake, conflict_breaker: { max_conflicts: 3, window_sec: 5 } }');
    assert.ok(breaker.type === 's3');
    assert.deepEqual(breaker.conflict_breaker, { max_conflicts: 3, window_sec: 5 });
  });

  it('says gcs is not implemented', () => {
    const issue = issueAt(`${MINIMAL}storage: { type: gcs }\n`, 'storage.type');
    assert.equal(issue.message, 'gcs is not implemented; use filesystem or s3');
  });

  it('requires exactly one of url and embedded: true', () => {
    const both = issueAt(`${MINIMAL}    embedded: true\n`, 'source.postgres.url');
    assert.match(both.message, /mutually exclusive/);
    const neither = issueAt('log: { level: debug }\n', 'source.postgres.url');
    assert.match(neither.message, /is required/);
    assert.match(neither.hint ?? '', /embedded: true/);
  });

  it('rejects a url with another scheme without echoing it', () => {
    const issue = issueAt('source: { postgres: { url: "mysql://root:hunter2@db/app" } }', 'source.postgres.url');
    assert.match(issue.message, /unsupported URL scheme "mysql:\/\/"/);
    assert.doesNotMatch(issue.message, /hunter2/);
    assert.match(issue.hint ?? '', /postgresql:\/\//);
  });

  it('requires tls cert_file and key_file together', () => {
    const issue = issueAt(
      `${MINIMAL}temporal: { address: "t:7233", tls: { cert_file: c.pem } }\n`,
      'temporal.tls.key_file',
    );
    assert.match(issue.message, /required when cert_file is set/);
    issueAt(`${MINIMAL}temporal: { tls: { key_file: k.pem } }\n`, 'temporal.tls.cert_file');
  });

  it('checks the shape of temporal.address, metrics.listen, table patterns and durations', () => {
    assert.match(issueAt(`${MINIMAL}temporal: { address: temporal.local }\n`, 'temporal.address').hint ?? '', /:7233/);
    issueAt(`${MINIMAL}metrics: { listen: "localhost:99999" }\n`, 'metrics.listen');
    assert.match(issueAt(`${MINIMAL}tables: { exclude: [audit] }\n`, 'tables.exclude[0]').hint ?? '', /public\.audit/);
    issueAt(`${MINIMAL}tables: { tags: { orders: { pii: "true" } } }\n`, 'tables.tags.orders');
    issueAt(`${MINIMAL}compaction: { schedule: hourly }\n`, 'compaction.schedule');
    issueAt(`${MINIMAL}compaction: { changelog_retention: forever }\n`, 'compaction.changelog_retention');
    issueAt(`${MINIMAL}compaction: { min_delete_ratio: 0 }\n`, 'compaction.min_delete_ratio');
    assert.equal(parse(`${MINIMAL}metrics: { listen: ":9100" }\n`).metrics.listen, ':9100');
  });

  it("takes the reference's tombstone_ttl_hours as the changelog's retention, but not beside changelog_retention", () => {
    assert.equal(parse(`${MINIMAL}compaction: { tombstone_ttl_hours: 168 }\n`).compaction.changelog_retention, '168h');
    assert.equal(parse(`${MINIMAL}compaction: { changelog_retention: 7d }\n`).compaction.changelog_retention, '7d');
    issueAt(
      `${MINIMAL}compaction: { changelog_retention: 7d, tombstone_ttl_hours: 1 }\n`,
      'compaction.tombstone_ttl_hours',
    );
  });

  it('rejects impossible combinations', () => {
    issueAt(`${MINIMAL}catalog: { type: iceberg }\n`, 'catalog.type');
    issueAt(`${MINIMAL}governance: { catalog: glue }\n`, 'governance.catalog');
    issueAt(`${MINIMAL}governance: { registry: dynamodb }\n`, 'catalog.acl_table');
    issueAt(
      `${MINIMAL}    reconnect: { initial_delay_sec: 10, max_delay_sec: 5 }\n`,
      'source.postgres.reconnect.max_delay_sec',
    );
  });

  it('reports YAML syntax errors with line and column', () => {
    const all = problems('source:\n  postgres:\n    url: "postgresql://x/y\nflush: [1,\n');
    assert.ok(all.length >= 1);
    assert.match(all[0]?.message ?? '', /YAML syntax error at line \d+, column \d+/);
    const flow = problems('init: { parallel_workers: ${WORKERS} }\n');
    assert.equal(flow.length, 1);
    assert.match(flow[0]?.hint ?? '', /quote/);
    const duplicate = problems(`${MINIMAL}flush: {}\nflush: {}\n`);
    assert.match(duplicate[0]?.message ?? '', /line 5/);
  });

  it('rejects a document that is not a mapping', () => {
    assert.match(problems('- a\n- b\n')[0]?.message ?? '', /expected a mapping/);
  });

  it('collects every problem at once', () => {
    const text = [
      'flsuh: {}',
      'source:',
      '  postgres:',
      '    url: "${PGCDC_URL}"',
      'flush: { interval_sec: -1, max_rows: 0 }',
      'serve: { http: { port: 70000 } }',
      'replication: { slot: Bad-Slot }',
      'storage: { type: s3 }',
    ].join('\n');
    const paths = problems(text).map((issue) => issue.path);
    assert.equal(paths[0], 'flsuh', 'issues come in file order');
    for (const path of [
      'flsuh',
      'source.postgres.url',
      'flush.interval_sec',
      'flush.max_rows',
      'serve.http.port',
      'replication.slot',
      'storage.bucket',
    ]) {
      assert.ok(paths.includes(path), `missing ${path} in ${paths.join(', ')}`);
    }
    try {
      parse(text);
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /problems in the configuration/);
      assert.match(error.describe(), /flush\.max_rows/);
    }
  });
});

describe('source credentials', () => {
  it('keeps the password of the url as written when it references variables, and only then', () => {
    const text = 'source:\n  postgres:\n    url: "postgresql://cdc:${PGCDC_PASSWORD}@db.internal:5432/app"\n';
    const config = parse(text, { PGCDC_PASSWORD: 's3cret' });
    assert.equal(config.source.postgres.url, 'postgresql://cdc:s3cret@db.internal:5432/app');
    assert.equal(config.source.postgres.password_reference, '${PGCDC_PASSWORD}');
    assert.equal(parse(MINIMAL).source.postgres.password_reference, undefined);
    const literal = parse('source:\n  postgres:\n    url: "postgresql://cdc:plain@db.internal/app?x=${X}"\n', {
      X: '1',
    });
    assert.equal(literal.source.postgres.password_reference, undefined);
  });

  it('resolves password_file against the config directory', () => {
    const config = parse(`${MINIMAL}    password_file: secrets/pg\n`);
    assert.equal(config.source.postgres.password_file, '/srv/cdc/secrets/pg');
  });

  it('takes one source of the password, and iam_auth only over TLS', () => {
    const both = issueAt(`${MINIMAL}    password_file: pw\n    iam_auth: true\n`, 'source.postgres.password_file');
    assert.match(both.message, /mutually exclusive/);
    const twice = issueAt(
      'source:\n  postgres:\n    url: "postgresql://cdc:pw@db/app"\n    password_file: pw\n',
      'source.postgres.url',
    );
    assert.match(twice.message, /password_file supplies one too/);
    const plain = issueAt(`${MINIMAL}    iam_auth: true\n`, 'source.postgres.url');
    assert.match(plain.message, /iam_auth needs TLS/);
    const tls = parse(`source:\n  postgres:\n    url: "${URL}?sslmode=verify-full"\n    iam_auth: true\n`);
    assert.equal(tls.source.postgres.iam_auth, true);
  });
});
