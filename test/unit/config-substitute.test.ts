import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, type ConfigIssue } from '../../core/errors/index.js';
import { editDistance, loadConfig, parseConfig, substituteString, suggest } from '../../core/config/index.js';

const PG_URL = 'postgresql://cdc@db:5432/app';
const MINIMAL = `source:\n  postgres:\n    url: "${PG_URL}"\n`;
const EXAMPLE = fileURLToPath(new URL('../../pg-cdc.example.yml', import.meta.url));

function issues(text: string, env: NodeJS.ProcessEnv): readonly ConfigIssue[] {
  try {
    parseConfig(text, { env, baseDir: '/cfg' });
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.issues;
  }
  assert.fail('expected a ConfigError');
}

describe('substituteString', () => {
  const env = { HOST: 'db.internal', EMPTY: '' };
  const value = (text: string) => substituteString(text, env).value;

  it('replaces ${VAR} and applies ${VAR:-default} when unset or empty', () => {
    assert.equal(value('host=${HOST}:5432'), 'host=db.internal:5432');
    assert.equal(value('${MISSING:-fallback}'), 'fallback');
    assert.equal(value('${EMPTY:-fallback}'), 'fallback');
    assert.equal(value('${HOST:-fallback}'), 'db.internal');
    assert.equal(value('[${MISSING:-}]'), '[]');
    assert.equal(value('${EMPTY}'), '');
  });

  it('turns $$ into a literal $ and keeps any other $', () => {
    assert.equal(value('pa$$word'), 'pa$word');
    assert.equal(value('$${HOST}'), '${HOST}');
    assert.equal(value('cost: $5 $ $x'), 'cost: $5 $ $x');
    assert.equal(value('end$'), 'end$');
  });

  it('reports unset variables, unterminated and invalid references', () => {
    assert.match(substituteString('${NOPE}', env).problems[0]?.message ?? '', /NOPE is not set/);
    assert.match(substituteString('x${HOST', env).problems[0]?.message ?? '', /unterminated/);
    assert.match(substituteString('${not valid}', env).problems[0]?.message ?? '', /invalid variable reference/);
  });
});

describe('substitution in the configuration', () => {
  it('reports an unset variable at the key path that uses it', () => {
    const text = 'source:\n  postgres:\n    url: "postgresql://cdc:${PGCDC_PASSWORD}@db/app"\n';
    const all = issues(text, {});
    assert.equal(all.length, 1, JSON.stringify(all));
    assert.deepEqual(all[0], {
      path: 'source.postgres.url',
      message: 'environment variable PGCDC_PASSWORD is not set',
      hint: 'export PGCDC_PASSWORD=... or write $${PGCDC_PASSWORD} for a literal',
    });
  });

  it('applies defaults and $$ literals', () => {
    const config = parseConfig(
      'source:\n  postgres:\n    url: "postgresql://cdc:pa$$${PW:-x}@${DB_HOST:-localhost}/app"\n',
      { env: {} },
    );
    assert.equal(config.source.postgres.url, 'postgresql://cdc:pa$x@localhost/app');
  });

  it('substitutes inside arrays and nested maps, but never keys', () => {
    const env = { SCHEMA: 'sales', TIER: 'gold' };
    const config = parseConfig(
      `${MINIMAL}    schemas: [public, "\${SCHEMA}"]\ntables:\n  tags:\n    "sales.*": { tier: "\${TIER}" }\n` +
        '    "public.*": { "${TIER}": x }\n',
      { env, baseDir: '/cfg' },
    );
    assert.deepEqual(config.source.postgres.schemas, ['public', 'sales']);
    assert.deepEqual(config.tables.tags['sales.*'], { tier: 'gold' });
    assert.deepEqual(config.tables.tags['public.*'], { '${TIER}': 'x' });
  });

  it('reports the array index of an unset variable', () => {
    const all = issues(`${MINIMAL}    schemas: [public, "\${EXTRA_SCHEMA}"]\n`, {});
    assert.equal(all[0]?.path, 'source.postgres.schemas[1]');
  });

  it('turns substituted numbers and booleans into numbers and booleans', () => {
    const env = { PORT: '9000', WORKERS: '8', IAM: 'true', UI: 'False' };
    const config = parseConfig(
      `source:\n  postgres:\n    url: "${PG_URL}?sslmode=verify-full"\n    iam_auth: \${IAM}\nserve: { http: { port: "\${PORT}" } }\ninit:\n  parallel_workers: \${WORKERS}\n` +
        'temporal: { embedded: { ui: "${UI}" } }\n',
      { env, baseDir: '/cfg' },
    );
    assert.equal(config.serve.http.port, 9000);
    assert.equal(config.init.parallel_workers, 8);
    assert.equal(config.source.postgres.iam_auth, true);
    assert.equal(config.temporal.embedded.ui, false);
  });

  it('still range-checks substituted numbers', () => {
    const all = issues(`${MINIMAL}serve: { http: { port: "\${PORT}" } }\n`, { PORT: '70000' });
    assert.equal(all[0]?.path, 'serve.http.port');
    assert.match(all[0]?.message ?? '', /between 0 and 65535/);
  });
});

describe('suggest', () => {
  it('measures edits with transpositions', () => {
    assert.equal(editDistance('flsuh', 'flush'), 1);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'abc'), 3);
  });

  it('picks the closest plausible candidate only', () => {
    assert.equal(suggest('flsuh', ['flush', 'spool', 'serve']), 'flush');
    assert.equal(suggest('maxRows', ['max_rows', 'max_bytes']), 'max_rows');
    assert.equal(suggest('zzzz', ['flush', 'spool']), undefined);
  });
});

describe('loadConfig', () => {
  it('reads the file and resolves paths against its directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pg-cdc-config-'));
    try {
      const file = join(dir, 'custom.yml');
      await writeFile(file, `${MINIMAL}state_dir: state\n`);
      const config = await loadConfig(file, {});
      assert.equal(config.state_dir, join(dir, 'state'));
      const viaEnv = await loadConfig(undefined, { PGCDC_CONFIG: file });
      assert.equal(viaEnv.state_dir, join(dir, 'state'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names the missing file and how to create one', async () => {
    const missing = join(tmpdir(), 'pg-cdc-does-not-exist', 'pg-cdc.yml');
    await assert.rejects(loadConfig(missing, {}), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.issues[0]?.message ?? '', /pg-cdc-does-not-exist/);
      assert.match(error.issues[0]?.hint ?? '', /pg-cdc\.example\.yml/);
      assert.equal(error.context.file, missing);
      return true;
    });
  });
});

describe('pg-cdc.example.yml', () => {
  it('parses and spells out exactly the built-in defaults', async () => {
    const text = await readFile(EXAMPLE, 'utf8');
    const example = parseConfig(text, { env: {}, baseDir: '/cfg' });
    const minimal = parseConfig('source: { postgres: { embedded: true } }', { env: {}, baseDir: '/cfg' });
    assert.deepEqual(example, minimal);
  });
});
