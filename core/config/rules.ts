/**
 * Cross-field rules of the configuration schema. They run even when sibling keys failed to parse (so one run
 * reports every problem), which is why they take loosely typed values and check types before comparing.
 */
import { fail, isRecord, type IssueSink } from './fields.js';

type Section = Record<string, unknown>;

/** Use as `.superRefine(rule, always)`. */
export const always = { when: () => true };

export function checkReconnect(r: Section, ctx: IssueSink): void {
  const { initial_delay_sec: initial, max_delay_sec: max } = r;
  if (typeof initial === 'number' && typeof max === 'number' && max < initial) {
    fail(
      ctx,
      `must be >= initial_delay_sec (${initial}), got ${max}`,
      'raise max_delay_sec or lower initial_delay_sec',
      ['max_delay_sec'],
    );
  }
}

export function checkPostgres(pg: Section, ctx: IssueSink): void {
  const hasUrl = pg.url !== undefined;
  const embedded = pg.embedded === true;
  if (hasUrl && embedded) {
    fail(
      ctx,
      'url and embedded: true are mutually exclusive',
      'remove url to let pg-cdc start a local demo cluster, or remove embedded: true to use your database',
      ['url'],
    );
  } else if (!hasUrl && !embedded) {
    fail(
      ctx,
      'is required (or set embedded: true)',
      'set url: postgresql://user:${PGCDC_PASSWORD}@host:5432/db, or embedded: true for a local demo cluster',
      ['url'],
    );
  }
}

/** Where the password comes from: one of the URL, `password_file` and IAM tokens. */
export function checkCredentials(pg: Section, ctx: IssueSink): void {
  const url = typeof pg.url === 'string' ? pg.url : '';
  const urlHasPassword = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^@/?#]*:[^@/?#]*@/.test(url) || /[?&]password=/i.test(url);
  if (pg.iam_auth === true && pg.password_file !== undefined) {
    fail(ctx, 'iam_auth and password_file are mutually exclusive', 'keep iam_auth: true (tokens) or password_file', [
      'password_file',
    ]);
  }
  const other = pg.iam_auth === true ? 'iam_auth' : pg.password_file !== undefined ? 'password_file' : undefined;
  if (other && urlHasPassword) {
    fail(
      ctx,
      `holds a password, and ${other} supplies one too`,
      `remove the password from url: postgresql://user@host:5432/db (${other} gives it on every connect)`,
      ['url'],
    );
  }
  if (pg.iam_auth === true && url !== '' && !/[?&]sslmode=(require|verify-ca|verify-full)\b/.test(url)) {
    fail(
      ctx,
      'iam_auth needs TLS: RDS and Aurora refuse IAM tokens on a connection without it',
      'add ?sslmode=verify-full&sslrootcert=/path/to/global-bundle.pem (the RDS CA bundle) to url',
      ['url'],
    );
  }
}

export function checkTables(tables: Section, ctx: IssueSink, isGlob: (pattern: string) => boolean): void {
  if (isRecord(tables.tags)) {
    for (const pattern of Object.keys(tables.tags)) {
      if (!isGlob(pattern)) {
        fail(ctx, `"${pattern}" is not a schema.table pattern`, 'key each tag set by a pattern like "public.*"', [
          'tags',
          pattern,
        ]);
      }
    }
  }
  if (tables.policy === 'listed' && Array.isArray(tables.include) && tables.include.length === 0) {
    fail(ctx, 'policy "listed" needs at least one include pattern', 'add include: ["public.orders"]', ['include']);
  }
}

export function checkTls(tls: Section, ctx: IssueSink): void {
  if (tls.cert_file !== undefined && tls.key_file === undefined) {
    fail(ctx, 'is required when cert_file is set', 'give the client key for the certificate, or remove cert_file', [
      'key_file',
    ]);
  } else if (tls.key_file !== undefined && tls.cert_file === undefined) {
    fail(ctx, 'is required when key_file is set', 'give the client certificate, or remove key_file', ['cert_file']);
  }
}

/** Storage, catalog and governance choices that cannot work together. */
export function checkConfig(config: Section, ctx: IssueSink): void {
  const storage: Section = isRecord(config.storage) ? config.storage : {};
  const catalog: Section = isRecord(config.catalog) ? config.catalog : {};
  const governance: Section = isRecord(config.governance) ? config.governance : {};
  if ((catalog.type === 'glue' || catalog.type === 'iceberg') && storage.type === 'filesystem') {
    fail(
      ctx,
      `catalog type "${catalog.type}" needs storage.type s3`,
      'set storage.type: s3 (with a bucket), or catalog.type: local',
      ['catalog', 'type'],
    );
  }
  if (governance.catalog === 'glue' && catalog.type === 'local') {
    fail(
      ctx,
      'Lake Formation enforcement needs the tables registered in AWS Glue',
      'set catalog.type: iceberg (or glue), or governance.catalog: local',
      ['governance', 'catalog'],
    );
  }
  if (governance.registry === 'dynamodb' && isRecord(config.catalog) && catalog.acl_table === undefined) {
    fail(
      ctx,
      'is required when governance.registry is dynamodb',
      'name the DynamoDB ACL table, e.g. acl_table: pg-cdc-acl',
      ['catalog', 'acl_table'],
    );
  }
}

/** `changelog_retention` and the reference's `tombstone_ttl_hours` say the same thing: one of them, at most. */
export function checkCompaction(compaction: Section, ctx: IssueSink): void {
  if (compaction.changelog_retention !== undefined && compaction.tombstone_ttl_hours !== undefined) {
    fail(
      ctx,
      'give changelog_retention or tombstone_ttl_hours (its name in the reference), not both',
      'keep changelog_retention, e.g. changelog_retention: 7d',
      ['tombstone_ttl_hours'],
    );
  }
}
