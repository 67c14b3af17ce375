/**
 * The REST app through inject(): authentication, limits, the one error format, request validation naming the
 * field, governance applied to every lake view (manifest, diff, freshness, snapshots, catalog, audit), and the
 * OpenAPI document. The lake is real (Iceberg + Parquet in a temp dir); the engine and policy are small fakes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { silentLogger } from '../../core/log/index.js';
import { auditSummaryOutput, catalogOutput, statusOutput } from '../../api/schemas/console.js';
import {
  describeTableOutput,
  diffOutput,
  freshnessOutput,
  listTablesOutput,
  manifestOutput,
  snapshotOutput,
} from '../../api/schemas/outputs.js';
import { buildHttpApp, createServeRuntime, type ServeRuntime } from '../../api/serve.js';
import {
  buildFixture,
  buildHistory,
  configFor,
  FixtureEngine,
  FixturePolicy,
  TOKENS,
  type Fixture,
} from './api-fixture.js';

const errorShape = z.strictObject({
  error: z.strictObject({
    code: z.string().regex(/^[A-Z_]+$/),
    message: z.string().min(1),
    hint: z.string().optional(),
  }),
});

interface OpenApiOperation {
  readonly requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> };
  readonly responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }>;
  readonly security?: unknown[];
}

describe('REST API (inject)', () => {
  let fixture: Fixture;
  let runtime: ServeRuntime;
  let engine: FixtureEngine;
  let app: FastifyInstance;
  type Principal = keyof typeof TOKENS;
  const as = (principal: Principal) => ({ authorization: `Bearer ${TOKENS[principal]}` });
  /** A 200 body, checked against the schema the route documents. */
  const ok = async <S extends z.ZodType>(url: string, schema: S, principal: Principal = 'analyst') => {
    const response = await app.inject({ method: 'GET', url, headers: as(principal) });
    assert.equal(response.statusCode, 200, `${url}: ${response.body}`);
    return schema.parse(response.json());
  };
  /** An error, checked to be exactly the one error format. */
  const fail = async (url: string, principal: Principal = 'analyst') => {
    const response = await app.inject({ method: 'GET', url, headers: as(principal) });
    return { status: response.statusCode, error: errorShape.parse(response.json()).error };
  };

  before(async () => {
    fixture = await buildFixture();
    await buildHistory(fixture);
    const policy = new FixturePolicy();
    engine = new FixtureEngine(policy);
    runtime = createServeRuntime({
      config: configFor(fixture.root),
      log: silentLogger,
      version: '9.9.9',
      engine,
      policy,
    });
    app = await buildHttpApp(runtime, '127.0.0.1');
  });
  after(async () => {
    await app.close();
    fixture.cleanup();
  });

  it('serves /healthz, /metrics and the OpenAPI document without a token', async () => {
    const health = await app.inject('/healthz');
    assert.equal(health.statusCode, 200);
    assert.equal(health.json<{ status: string }>().status, 'ok');
    await ok('/v1/tables', listTablesOutput);
    await ok('/v1/manifest', manifestOutput);
    const metrics = await app.inject('/metrics');
    assert.equal(metrics.statusCode, 200);
    assert.match(String(metrics.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(
      metrics.body,
      /^pgcdc_serve_requests_total\{door="http",action="GET \/v1\/tables",outcome="ok"\} \d+$/m,
    );
    assert.match(metrics.body, /^pgcdc_serve_manifest_version 5$/m);
    for (const line of metrics.body.split('\n').filter((l) => l && !l.startsWith('#'))) assert.match(line, /^pgcdc_/);
    const doc = await app.inject('/v1/openapi.json');
    assert.equal(doc.statusCode, 200);
    const openapi = doc.json<{ openapi: string; paths: Record<string, Record<string, OpenApiOperation>> }>();
    assert.equal(openapi.openapi, '3.0.3');
    for (const path of [
      '/v1/tables',
      '/v1/tables/{name}',
      '/v1/tables/{name}/changes',
      '/v1/tables/{name}/snapshot',
      '/v1/query',
      '/v1/manifest',
      '/v1/diff',
      '/v1/freshness',
      '/v1/status',
      '/v1/catalog',
      '/v1/audit/summary',
      '/v1/stream/status',
      '/v1/stream/events',
      '/v1/stream/audit',
      '/healthz',
      '/metrics',
      '/mcp',
    ]) {
      assert.ok(openapi.paths[path], `${path} is described`);
    }
    const query = openapi.paths['/v1/query']!.post!;
    assert.deepEqual(Object.keys(query.requestBody!.content), ['application/json']);
    assert.ok(query.requestBody!.content['application/json']!.schema.properties!.filters);
    assert.equal(query.responses['413']!.content!['application/json']!.schema.$ref, '#/components/schemas/Error');
    assert.deepEqual(openapi.paths['/healthz']!.get!.security, []);
  });

  it('refuses missing, malformed and unknown tokens with 401 in the one error format', async () => {
    for (const headers of [{}, { authorization: 'Basic abc' }, { authorization: 'Bearer not-a-known-token' }]) {
      const response = await app.inject({ method: 'GET', url: '/v1/tables', headers });
      assert.equal(response.statusCode, 401);
      assert.equal(response.headers['www-authenticate'], 'Bearer realm="pg-cdc"');
      const body = response.json<{ error: { code: string; message: string; hint: string } }>();
      assert.deepEqual(Object.keys(body), ['error']);
      assert.equal(body.error.code, 'UNAUTHORIZED');
      assert.ok(body.error.message.length > 0 && body.error.hint.length > 0);
    }
    const unknownRoute = await app.inject({ method: 'GET', url: '/v1/nothing', headers: as('analyst') });
    assert.equal(unknownRoute.statusCode, 404);
    assert.equal(unknownRoute.json<{ error: { code: string } }>().error.code, 'NOT_FOUND');
  });

  it('maps tokens to principals, and a hidden table is exactly as absent as a missing one', async () => {
    assert.deepEqual(
      (await ok('/v1/tables', listTablesOutput)).tables.map((t) => t.table),
      ['public.people', 'public.orders'],
    );
    assert.deepEqual(
      (await ok('/v1/tables', listTablesOutput, 'restricted')).tables.map((t) => t.table),
      ['public.people'],
    );
    const hidden = await fail('/v1/tables/public.orders', 'restricted');
    const missing = await fail('/v1/tables/public.nope', 'restricted');
    assert.equal(hidden.status, 404);
    assert.equal(hidden.error.code, 'TABLE_NOT_FOUND');
    assert.equal(missing.status, 404);
    assert.equal(hidden.error.message.replace('orders', 'X'), missing.error.message.replace('nope', 'X'));
    const described = await ok('/v1/tables/public.people', describeTableOutput, 'restricted');
    assert.deepEqual(
      described.columns.map((c) => c.name),
      ['id', 'name'],
    );
  });

  it('answers malformed requests with 400 naming the field, and bodies over the cap with 413', async () => {
    const post = (payload: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
      app.inject({ method: 'POST', url: '/v1/query', payload, headers: { ...as('analyst'), ...headers } });
    const cases: [unknown, RegExp][] = [
      [{ table: 'public.people', limit: 'ten' }, /^body\.limit: .*expected number/],
      [{ table: 'public.people', filters: [{ column: 'id', op: 'between', value: 1 }] }, /^body\.filters\[0\]\.op: /],
      [
        { table: 'public.people', filters: [{ column: 'id', op: 'gt' }] },
        /^body\.filters\[0\]\.value: gt needs a value/,
      ],
      [{ tabel: 'public.people' }, /body\.tabel: not a known field/],
      [{ table: 'public.people', sql: 'SELECT 1' }, /^body\.table: give exactly one of table and sql/],
      [{ sql: 'SELECT 1', ref: 'v1' }, /^body\.ref: a past ref reads one table/],
      [[1, 2], /^body: /],
    ];
    for (const [body, message] of cases) {
      const response = await post(JSON.stringify(body));
      assert.equal(response.statusCode, 400, JSON.stringify(body));
      const error = response.json<{ error: { code: string; message: string } }>().error;
      assert.equal(error.code, 'BAD_REQUEST');
      assert.match(error.message, message);
    }
    const notJson = await post('{"table": ');
    assert.equal(notJson.statusCode, 400);
    assert.equal(notJson.json<{ error: { code: string } }>().error.code, 'BAD_REQUEST');
    const tooBig = await post(JSON.stringify({ sql: `SELECT '${'x'.repeat(4096)}'` }));
    assert.equal(tooBig.statusCode, 413);
    assert.equal(tooBig.json<{ error: { code: string } }>().error.code, 'BODY_TOO_LARGE');
    const wrongType = await post('table=public.people', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(wrongType.statusCode, 415);
    assert.equal(wrongType.json<{ error: { code: string } }>().error.code, 'UNSUPPORTED_MEDIA_TYPE');
    const badQuery = await fail('/v1/tables/public.people/changes?limit=0');
    assert.equal(badQuery.status, 400);
    assert.match(badQuery.error.message, /^query\.limit: /);
  });

  it("runs queries through the engine as the token's principal, capping the limit at the row limit", async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/query',
      headers: as('analyst'),
      payload: {
        table: 'public.people',
        columns: ['id', 'name'],
        filters: [{ column: 'id', op: 'gt', value: 0 }],
        limit: 5000,
      },
    });
    assert.equal(response.statusCode, 200);
    const body = response.json<{ rows: unknown[][]; row_count: number; columns: { name: string }[] }>();
    assert.deepEqual(body.rows, [
      [1, 'Ada'],
      [2, 'Grace'],
      [3, 'Edsger'],
    ]);
    const call = engine.calls.filter((c) => c.method === 'query').at(-1)!;
    assert.equal(call.principal, 'analyst');
    assert.deepEqual(call.args[0], {
      kind: 'structured',
      table: 'public.people',
      columns: ['id', 'name'],
      filters: [{ column: 'id', op: 'gt', value: '0' }],
      limit: 50,
    });
    const atRef = await app.inject({
      method: 'POST',
      url: '/v1/query',
      headers: as('analyst'),
      payload: { table: 'public.people', ref: 'v1' },
    });
    assert.equal(atRef.statusCode, 200);
    const v1 = JSON.parse(Buffer.from((await fixture.store.get('_pgcdc/manifest/v0000000001.json'))!).toString()) as {
      tables: Record<string, { state: { snapshot_id: string } }>;
    };
    assert.deepEqual(engine.calls.filter((c) => c.method === 'query').at(-1)!.args[1], {
      snapshotId: v1.tables['public.people']!.state.snapshot_id,
    });
  });

  it('never shows a client the text of an unexpected error', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/query',
      headers: as('analyst'),
      payload: { sql: 'SELECT boom' },
    });
    assert.equal(response.statusCode, 500);
    const error = response.json<{ error: { code: string; message: string } }>().error;
    assert.equal(error.code, 'INTERNAL');
    assert.doesNotMatch(response.body, /secret|IO Error|parquet|Permission/);
    assert.ok(error.message.includes(String(response.headers['x-request-id'])));
  });

  it('shows the manifest, freshness and snapshots cut to what the principal may see', async () => {
    const analyst = await ok('/v1/manifest', manifestOutput);
    assert.equal(analyst.version, 5);
    assert.deepEqual(Object.keys(analyst.tables).sort(), ['public.orders', 'public.people']);
    const raw = await app.inject({ url: '/v1/manifest', headers: as('analyst') });
    assert.doesNotMatch(raw.body, /db\.internal/, 'the source host is not shown');
    assert.equal(analyst.policy_version, 7);
    const restricted = await ok('/v1/manifest?ref=v1', manifestOutput, 'restricted');
    assert.deepEqual(Object.keys(restricted.tables), ['public.people']);
    assert.deepEqual(restricted.tables['public.people']!.columns, ['id', 'name']);

    const fresh = await ok('/v1/freshness', freshnessOutput);
    assert.equal(fresh.is_stale, false);
    assert.equal(fresh.max_lag_seconds, 60);
    assert.equal(fresh.policy_version, 7);
    assert.deepEqual(
      fresh.tables.map((t) => t.table),
      ['public.orders', 'public.people'],
    );
    assert.match(fresh.tables[0]!.last_commit_at!, /^\d{4}-\d\d-\d\dT/);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal((await ok('/v1/freshness?max_lag_seconds=0.001', freshnessOutput)).is_stale, true);
    assert.equal((await fail('/v1/freshness?table=public.orders', 'restricted')).status, 404);

    const snapshot = await ok('/v1/tables/public.people/snapshot', snapshotOutput);
    assert.equal(snapshot.kind, 'state');
    assert.equal(snapshot.record_count, 4);
    assert.equal(snapshot.data_files.length, 1);
    assert.ok(snapshot.data_files[0]!.path.startsWith(`${snapshot.data_location}/`));
    const first = await ok('/v1/tables/public.people/snapshot?ref=v1', snapshotOutput);
    assert.equal(first.record_count, 3);
    assert.equal(first.lsn, '0/1000');
    assert.equal((await ok('/v1/tables/public.people__changes/snapshot', snapshotOutput)).kind, 'changes');
    assert.equal((await fail('/v1/tables/public.orders/snapshot', 'restricted')).status, 404);
    const badRef = await fail('/v1/manifest?ref=v99');
    assert.equal(badRef.status, 404);
    assert.equal(badRef.error.code, 'REF_NOT_FOUND');
  });

  it('classifies ref-to-ref diffs as the principal sees them', async () => {
    const diff = async (from: string, to: string, principal: keyof typeof TOKENS = 'analyst') =>
      await ok(`/v1/diff?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`, diffOutput, principal);
    const dataOnly = await diff('v1', 'v2');
    assert.equal(dataOnly.classification, 'schema_change');
    const people = dataOnly.tables.find((t) => t.table === 'public.people')!;
    assert.deepEqual([people.change, people.classification, people.epochs], ['changed', 'safe', { from: 0, to: 1 }]);
    assert.equal(dataOnly.tables.find((t) => t.table === 'public.orders')!.change, 'added');

    const additive = await diff('v2', 'v3');
    assert.equal(additive.classification, 'schema_change');
    assert.equal(additive.promote_safe, true);
    const evolved = additive.tables.find((t) => t.table === 'public.people')!;
    assert.deepEqual(evolved.added_columns, [{ name: 'phone', type: 'string' }]);
    assert.deepEqual(evolved.type_changes, [{ name: 'id', from: 'int', to: 'long', widening: true }]);

    const dropped = await diff('v3', 'v4');
    assert.equal(dropped.classification, 'breaking');
    assert.equal(dropped.promote_safe, false);
    assert.deepEqual(dropped.tables.find((t) => t.table === 'public.people')!.removed_columns, [
      { name: 'email', type: 'string' },
    ]);
    // email was never visible to restricted: for it, nothing broke.
    const unseen = await diff('v3', 'v4', 'restricted');
    assert.equal(unseen.classification, 'safe');
    assert.deepEqual(
      unseen.tables.map((t) => t.table),
      ['public.people'],
    );

    const policy = await diff('v4', 'latest');
    assert.deepEqual(policy.policy, { from_version: 3, to_version: 7, changed: true });
    assert.equal(policy.classification, 'policy_change');
    assert.deepEqual((await diff('v2', 'v3')).policy, { from_version: null, to_version: null, changed: null });
    const beforeHistory = await fail('/v1/diff?from=raw@2000-01-01T00:00:00Z');
    assert.equal(beforeHistory.status, 404);
    assert.equal(beforeHistory.error.code, 'REF_NOT_FOUND');
    const invalid = await fail('/v1/diff?from=yesterday');
    assert.equal(invalid.status, 400);
    assert.equal(invalid.error.code, 'REF_INVALID');
    const now = await diff(`raw@${new Date().toISOString()}`, 'latest');
    assert.equal(now.from.manifest_version, 5);
  });

  it('serves status, catalog and the audit summary per principal', async () => {
    const status = await ok('/v1/status', statusOutput, 'restricted');
    assert.equal(status.principal, 'restricted');
    assert.equal(status.lake.snapshotted, true);
    assert.equal(status.lake.manifest_version, 5);
    assert.deepEqual(
      status.lake.tables.map((t) => t.table),
      ['public.people'],
    );
    assert.equal(status.serve.version, '9.9.9');
    const catalog = await ok('/v1/catalog', catalogOutput, 'restricted');
    assert.deepEqual(
      catalog.tables.map((t) => t.identifier),
      ['public.people', 'public.people__changes'],
    );
    const changelog = catalog.tables[1]!;
    assert.deepEqual(
      changelog.columns.map((c) => c.name),
      ['_op', '_commit_lsn', '_seq', 'id', 'name'],
    );
    await ok('/v1/tables/public.orders', describeTableOutput);
    const audit = await ok('/v1/audit/summary?recent=500', auditSummaryOutput, 'restricted');
    assert.ok(audit.total > 0);
    assert.ok(audit.recent.every((e) => e.tables.every((t) => t.startsWith('public.people'))));
    assert.ok(audit.by_principal.some((p) => p.principal === 'analyst'));
    const full = await ok('/v1/audit/summary?recent=500', auditSummaryOutput);
    assert.ok(full.recent.some((e) => e.tables.includes('public.orders')));
    assert.ok(full.by_action.some((a) => a.action === 'POST /v1/query' && a.errors > 0));
  });
});

describe('REST API limits and binding', () => {
  let fixture: Fixture;
  before(async () => {
    fixture = await buildFixture();
    await buildHistory(fixture);
  });
  after(() => fixture.cleanup());

  const runtimeWith = (extra: string) => {
    const policy = new FixturePolicy();
    return createServeRuntime({
      config: configFor(fixture.root, extra),
      log: silentLogger,
      version: '1',
      engine: new FixtureEngine(policy),
      policy,
    });
  };

  it('limits each principal to serve.http.rate_limit_per_minute with 429 and Retry-After', async () => {
    const config = configFor(fixture.root);
    const policy = new FixturePolicy();
    const runtime = createServeRuntime({
      config: { ...config, serve: { ...config.serve, http: { ...config.serve.http, rate_limit_per_minute: 3 } } },
      log: silentLogger,
      version: '1',
      engine: new FixtureEngine(policy),
      policy,
    });
    const app = await buildHttpApp(runtime, '127.0.0.1');
    try {
      const call = (token: string) => app.inject({ url: '/v1/tables', headers: { authorization: `Bearer ${token}` } });
      for (let i = 0; i < 3; i++) assert.equal((await call(TOKENS.analyst)).statusCode, 200);
      const limited = await call(TOKENS.analyst);
      assert.equal(limited.statusCode, 429);
      assert.equal(limited.json<{ error: { code: string } }>().error.code, 'RATE_LIMITED');
      assert.ok(Number(limited.headers['retry-after']) >= 1 && Number(limited.headers['retry-after']) <= 20);
      assert.equal((await call(TOKENS.restricted)).statusCode, 200, 'another principal has its own budget');
      assert.equal((await app.inject('/healthz')).statusCode, 200, 'health is never limited');
    } finally {
      await app.close();
    }
  });

  it('refuses a non-loopback address without tokens, and serves loopback without tokens as serve.mcp.principal', async () => {
    const noTokens = (principal?: string) => {
      const config = configFor(fixture.root);
      const policy = new FixturePolicy();
      return createServeRuntime({
        config: {
          ...config,
          serve: { ...config.serve, http: { ...config.serve.http, tokens: [] }, mcp: principal ? { principal } : {} },
        },
        log: silentLogger,
        version: '1',
        engine: new FixtureEngine(policy),
        policy,
      });
    };
    await assert.rejects(buildHttpApp(noTokens(), '0.0.0.0'), (error: Error & { code?: string; hint?: string }) => {
      assert.equal(error.code, 'SERVE_INSECURE');
      assert.match(error.message, /0\.0\.0\.0/);
      assert.match(error.hint ?? '', /serve\.http\.tokens/);
      return true;
    });
    const withTokens = await buildHttpApp(runtimeWith(''), '0.0.0.0');
    await withTokens.close();

    const local = await buildHttpApp(noTokens('restricted'), '127.0.0.1');
    try {
      const ok = await local.inject({ url: '/v1/tables', headers: { host: '127.0.0.1:8080' } });
      assert.equal(ok.statusCode, 200);
      assert.deepEqual(
        ok.json<{ tables: { table: string }[] }>().tables.map((t) => t.table),
        ['public.people'],
      );
      const rebound = await local.inject({ url: '/v1/tables', headers: { host: 'evil.example:8080' } });
      assert.equal(rebound.statusCode, 403);
      assert.equal(rebound.json<{ error: { code: string } }>().error.code, 'HOST_NOT_ALLOWED');
    } finally {
      await local.close();
    }
    const nobody = await buildHttpApp(noTokens(), '127.0.0.1');
    try {
      const refused = await nobody.inject({ url: '/v1/tables', headers: { host: 'localhost' } });
      assert.equal(refused.statusCode, 401);
      assert.match(refused.json<{ error: { hint: string } }>().error.hint, /serve\.mcp\.principal/);
    } finally {
      await nobody.close();
    }
  });
});
