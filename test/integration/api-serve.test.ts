/**
 * `pg-cdc serve --http` as a user runs it, over a real lake made by `pg-cdc init`, with the real engine and
 * governance: bearer tokens per principal, limits, the error format and the lake views over a real socket; MCP at
 * /mcp through the SDK client and the Inspector CLI; and, with `pg-cdc start` streaming the WAL, changes pushed on
 * /v1/stream/events as they commit.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { auditSummaryOutput, catalogOutput, statusOutput } from '../../api/schemas/console.js';
import {
  describeTableOutput,
  diffOutput,
  freshnessOutput,
  listTablesOutput,
  manifestOutput,
  queryOutput,
} from '../../api/schemas/outputs.js';
import { PG_CDC_BIN, runCli } from '../support/cli.js';
import { tempDir, writeConfig } from '../support/stack.js';
import {
  inspector,
  inspectorJson,
  inspectorUnavailable,
  snapshotLake,
  startHttpServe,
  TOKENS,
  type Principal,
  type RunningServe,
  type ServeLake,
} from './api-support.js';

const errorShape = z.strictObject({
  error: z.strictObject({ code: z.string(), message: z.string(), hint: z.string().optional() }),
});

describe('pg-cdc serve refuses what it cannot serve safely', () => {
  it('needs --mcp or --http, and refuses a non-loopback address without tokens', async () => {
    const config = writeConfig(
      [`state_dir: ${tempDir()}`, 'source: { postgres: { url: "postgresql://u@localhost/x" } }', ''].join('\n'),
    );
    const bare = await runCli(['--config', config, 'serve']);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /needs --mcp, --http or both/);
    const open = await runCli(['--config', config, 'serve', '--http', '--host', '0.0.0.0', '--port', '0']);
    assert.equal(open.code, 2);
    assert.match(open.stderr, /SERVE_INSECURE: refusing to serve on 0\.0\.0\.0 without authentication/);
    assert.match(open.stderr, /hint: add serve\.http\.tokens/);
    const stdio = await runCli(['--config', config, 'serve', '--mcp']);
    assert.equal(stdio.code, 2);
    assert.match(stdio.stderr, /needs a principal/);
  });
});

describe('pg-cdc serve --http over a real lake', () => {
  let lake: ServeLake;
  let serve: RunningServe;
  const headers = (principal: Principal) => ({ authorization: `Bearer ${TOKENS[principal]}` });
  const ok = async <S extends z.ZodType>(
    path: string,
    schema: S,
    principal: Principal = 'analyst',
    init: RequestInit = {},
  ) => {
    const response = await fetch(`${serve.url}${path}`, {
      ...init,
      headers: { ...headers(principal), ...init.headers },
    });
    const body: unknown = await response.json();
    assert.equal(response.status, 200, `${path}: ${JSON.stringify(body)}`);
    return schema.parse(body);
  };
  const fail = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`${serve.url}${path}`, init);
    return { status: response.status, headers: response.headers, error: errorShape.parse(await response.json()).error };
  };
  const query = (principal: Principal, body: unknown) => ({
    method: 'POST',
    headers: { ...headers(principal), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

  before(async () => {
    lake = await snapshotLake('api_serve', ['    body_limit_bytes: 4096', '    rate_limit_per_minute: 120']);
    serve = await startHttpServe(lake.config);
  });
  after(async () => {
    await serve?.stop();
  });

  it('serves health, metrics and OpenAPI openly, and everything else only with a known token', async () => {
    assert.match(serve.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await fetch(`${serve.url}/healthz`)).status, 200);
    const openapi = (await (await fetch(`${serve.url}/v1/openapi.json`)).json()) as { paths: Record<string, unknown> };
    assert.ok(openapi.paths['/v1/query'] && openapi.paths['/v1/stream/events']);
    const missing = await fail('/v1/tables');
    assert.equal(missing.status, 401);
    assert.equal(missing.error.code, 'UNAUTHORIZED');
    const wrong = await fail('/v1/tables', { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const metrics = await (await fetch(`${serve.url}/metrics`)).text();
    assert.match(metrics, /^pgcdc_serve_auth_failures_total\{reason="missing_token"\} \d+$/m);
  });

  it('gives each principal its own view, read exactly as PostgreSQL has it', async () => {
    const tables = await ok('/v1/tables', listTablesOutput);
    assert.ok(tables.tables.some((t) => t.table === 'public.people' && t.row_count === 5));
    const analyst = await ok('/v1/tables/public.people', describeTableOutput);
    assert.ok(!analyst.columns.some((c) => c.name === 'email'));
    const auditor = await ok('/v1/tables/public.people', describeTableOutput, 'auditor');
    assert.ok(auditor.columns.some((c) => c.name === 'email'));

    const rows = await ok(
      '/v1/query',
      queryOutput,
      'auditor',
      query('auditor', {
        table: 'public.people',
        columns: ['id', 'email'],
        filters: [{ column: 'email', op: 'like', value: '%@example.com' }],
      }),
    );
    const expected = await lake.db.sql<{ id: string; email: string }>(
      "SELECT id, email FROM people WHERE email LIKE '%@example.com' ORDER BY id",
    );
    assert.deepEqual(
      [...rows.rows].sort((a, b) => Number(a[0]) - Number(b[0])),
      expected.map((r) => [Number(r.id), r.email]),
    );
    const denied = await fail('/v1/query', query('analyst', { table: 'public.people', columns: ['id', 'email'] }));
    assert.equal(denied.status, 400);
    assert.equal(denied.error.code, 'COLUMN_NOT_FOUND');
    const conversion = await fail(
      '/v1/query',
      query('analyst', { table: 'public.people', filters: [{ column: 'id', op: 'eq', value: '1 OR 1=1' }] }),
    );
    assert.equal(conversion.status, 400);
    assert.equal(conversion.error.code, 'QUERY_FAILED');
    const sql = await ok(
      '/v1/query',
      queryOutput,
      'analyst',
      query('analyst', { sql: 'SELECT sum(amount) AS total FROM "public"."people"' }),
    );
    const total = await lake.db.sql<{ total: string }>('SELECT sum(amount)::text AS total FROM people');
    assert.equal(sql.rows[0]![0], total[0]!.total);
  });

  it('follows `acl set` at once: a reclassified column appears and disappears for a role without a restart', async () => {
    const columns = async (): Promise<string[]> =>
      (await ok('/v1/tables/public.people', describeTableOutput)).columns.map((c) => c.name);
    assert.ok(!(await columns()).includes('email'));
    const email = `${lake.db.name}.public.people.email`;
    const open = await lake.cli('acl', 'set', email, '--tag', 'sensitivity=internal', '--reason', 'now internal');
    assert.equal(open.code, 0, open.stderr);
    try {
      assert.ok((await columns()).includes('email'), 'internal now: the analyst sees email');
      const rows = await ok(
        '/v1/query',
        queryOutput,
        'analyst',
        query('analyst', { table: 'public.people', columns: ['id', 'email'] }),
      );
      assert.equal(rows.rows.length, 5);
    } finally {
      const close = await lake.cli('acl', 'set', email, '--tag', 'sensitivity=pii', '--reason', 'back to pii');
      assert.equal(close.code, 0, close.stderr);
    }
    assert.ok(!(await columns()).includes('email'), 'pii again: hidden again');
  });

  it('answers malformed and oversized bodies with 400 naming the field and 413', async () => {
    const field = await fail(
      '/v1/query',
      query('analyst', { table: 'public.people', filters: [{ column: 'id', op: 'eq', value: '1' }], limit: 0 }),
    );
    assert.equal(field.status, 400);
    assert.match(field.error.message, /^body\.limit: /);
    const json = await fail('/v1/query', {
      method: 'POST',
      headers: { ...headers('analyst'), 'content-type': 'application/json' },
      body: '{"sql":',
    });
    assert.equal(json.status, 400);
    assert.equal(json.error.code, 'BAD_REQUEST');
    const big = await fail('/v1/query', query('analyst', { sql: `SELECT '${'z'.repeat(5000)}'` }));
    assert.equal(big.status, 413);
    assert.equal(big.error.code, 'BODY_TOO_LARGE');
  });

  it('serves the manifest, freshness, diff, status, catalog and audit from the real lake', async () => {
    const manifest = await ok('/v1/manifest', manifestOutput);
    assert.deepEqual(manifest.tables['public.people']!.columns, ['id', 'name', 'amount', 'born']);
    const auditorManifest = await ok('/v1/manifest', manifestOutput, 'auditor');
    assert.deepEqual(auditorManifest.tables['public.people']!.columns, ['id', 'name', 'email', 'amount', 'born']);
    const freshness = await ok('/v1/freshness?table=public.people', freshnessOutput);
    assert.equal(freshness.tables.length, 1);
    assert.equal(typeof freshness.policy_version, 'number');
    const diff = await ok('/v1/diff?from=v1&to=latest', diffOutput);
    assert.equal(diff.promote_safe, true);
    const status = await ok('/v1/status', statusOutput);
    assert.equal(status.principal, 'analyst');
    assert.equal(status.lake.snapshotted, true);
    const catalog = await ok('/v1/catalog', catalogOutput);
    const people = catalog.tables.find((t) => t.identifier === 'public.people')!;
    assert.ok(!people.columns.some((c) => c.name === 'email'));
    const audit = await ok('/v1/audit/summary', auditSummaryOutput, 'auditor');
    assert.ok(audit.by_principal.some((p) => p.principal === 'analyst' && p.errors > 0));
    assert.ok(audit.by_action.some((a) => a.action === 'POST /v1/query'));
  });

  it("serves MCP at /mcp to the SDK client and to the Inspector CLI, with the token's principal", async (t) => {
    const client = new Client({ name: 'pg-cdc-test', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${serve.url}/mcp`), { requestInit: { headers: headers('auditor') } }),
    );
    try {
      assert.equal((await client.listTools()).tools.length, 8);
      const described = (await client.callTool({
        name: 'describe_table',
        arguments: { table: 'public.people' },
      })) as CallToolResult;
      assert.ok(describeTableOutput.parse(described.structuredContent).columns.some((c) => c.name === 'email'));
    } finally {
      await client.close();
    }
    const skip = await inspectorUnavailable();
    if (skip) return t.skip(skip);
    const target = ['--transport', 'http', '--server-url', `${serve.url}/mcp`];
    const listed = await inspector([
      ...target,
      '--header',
      `Authorization: Bearer ${TOKENS.analyst}`,
      '--method',
      'tools/list',
    ]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(inspectorJson<{ tools: unknown[] }>(listed).tools.length, 8);
    const called = await inspector([
      ...target,
      '--header',
      `Authorization: Bearer ${TOKENS.analyst}`,
      '--method',
      'tools/call',
      '--tool-name',
      'describe_table',
      '--tool-arg',
      'table=public.people',
    ]);
    assert.equal(called.code, 0, called.stderr);
    const columns = describeTableOutput.parse(
      inspectorJson<{ structuredContent: unknown }>(called).structuredContent,
    ).columns;
    assert.ok(!columns.some((c) => c.name === 'email'));
    const refused = await inspector([...target, '--method', 'tools/list']);
    assert.notEqual(refused.code, 0, 'no token, no MCP');
  });

  it('limits each principal with 429 and Retry-After', async () => {
    let limited: Response | undefined;
    for (let i = 0; i < 200 && !limited; i++) {
      const response = await fetch(`${serve.url}/healthz`.replace('/healthz', '/v1/status'), {
        headers: headers('auditor'),
      });
      if (response.status === 429) limited = response;
      else await response.arrayBuffer();
    }
    assert.ok(limited, 'refused within 200 requests at 120 per minute');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.equal(errorShape.parse(await limited.json()).error.code, 'RATE_LIMITED');
    assert.equal((await fetch(`${serve.url}/v1/tables`, { headers: headers('analyst') })).status, 200);
  });
});

describe('GET /v1/stream/events with pg-cdc start streaming', () => {
  let lake: ServeLake;
  let serve: RunningServe;
  let stopStart: (() => Promise<void>) | undefined;

  before(async () => {
    lake = await snapshotLake('api_events', []);
    serve = await startHttpServe(lake.config);
    const child = spawn(process.execPath, [PG_CDC_BIN, '--config', lake.config, 'start', '--no-metrics'], {
      env: { ...process.env, PGCDC_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    stopStart = () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) {
          process.stderr.write(`pg-cdc start had exited (${child.exitCode}):\n${stderr}\n`);
          return resolve();
        }
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
  });
  after(async () => {
    await stopStart?.();
    await serve?.stop();
  });

  /** Opens the stream as `principal`, runs `act` once it is ready, and collects events until `until` holds. */
  async function stream(
    principal: Principal,
    act: () => Promise<void>,
    until: (text: string) => boolean,
  ): Promise<string> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 90_000);
    const response = await fetch(`${serve.url}/v1/stream/events`, {
      headers: { authorization: `Bearer ${TOKENS[principal]}` },
      signal: controller.signal,
    });
    assert.equal(response.status, 200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    let acted = false;
    try {
      while (!until(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        if (!acted && text.includes('event: ready')) {
          acted = true;
          await act();
        }
      }
    } catch (error) {
      throw new Error(`stream ended without the expected events: ${String(error)}\n${text}`);
    } finally {
      clearTimeout(timer);
      controller.abort();
    }
    return text;
  }

  it('pushes each committed change to the principals who may see it, hidden columns left out', async () => {
    let analystReady!: () => void;
    const ready = new Promise<void>((resolve) => (analystReady = resolve));
    const analystStream = stream(
      'analyst',
      () => Promise.resolve(analystReady()),
      (text) => /event: commit\nid: \d+\ndata: .*"public\.people"/.test(text),
    );
    const auditor = await stream(
      'auditor',
      async () => {
        await ready;
        await lake.db.sql("INSERT INTO people VALUES (6, 'Radia', 'radia@example.com', 3.5, '1951-09-18')");
        await lake.db.sql("UPDATE people SET name = 'Ada L.' WHERE id = 1");
        await lake.db.sql('DELETE FROM people WHERE id = 3');
      },
      (text) => /"_op":"delete"/.test(text) && /event: commit\nid: \d+/.test(text),
    );
    const analyst = await analystStream;
    const changes = (text: string) =>
      text
        .split('\n\n')
        .filter((block) => block.startsWith('event: change'))
        .map(
          (block) =>
            JSON.parse(block.slice(block.indexOf('data: ') + 6)) as { table: string; row: Record<string, unknown> },
        );
    const seen = changes(auditor).filter((c) => c.table === 'public.people');
    assert.deepEqual(
      seen.map((c) => [c.row._op, c.row.id]),
      [
        ['insert', 6],
        ['update', 1],
        ['delete', 3],
      ],
    );
    assert.equal(seen[0]!.row.email, 'radia@example.com');
    assert.equal(seen[1]!.row.name, 'Ada L.');
    const hidden = changes(analyst).filter((c) => c.table === 'public.people');
    assert.ok(hidden.length >= 1);
    assert.ok(
      hidden.every((c) => !('email' in c.row)),
      'analyst never receives email',
    );
    assert.doesNotMatch(analyst, /radia@example\.com/);
  });
});
