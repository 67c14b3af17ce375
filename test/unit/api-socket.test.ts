/**
 * The REST server over a real loopback socket: auth, body cap and rate limit as a client meets them, the SSE
 * streams (changes pushed when a new manifest version lands, resumable with Last-Event-ID; audit; status), and MCP
 * over Streamable HTTP with the SDK's own client behind the same bearer tokens.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { silentLogger } from '../../core/log/index.js';
import { statusOutput } from '../../api/schemas/console.js';
import { createServeRuntime, listenHttp, type RunningHttp, type ServeRuntime } from '../../api/serve.js';
import {
  buildFixture,
  buildHistory,
  configFor,
  FixtureEngine,
  FixturePolicy,
  TOKENS,
  type Fixture,
} from './api-fixture.js';

interface SseEvent {
  event: string;
  id?: string;
  data: unknown;
}

/** Reads Server-Sent Events until `until` says stop or the time runs out. */
async function readEvents(
  url: string,
  headers: Record<string, string>,
  until: (events: SseEvent[]) => boolean,
  onOpen?: () => Promise<void>,
  timeoutMs = 10_000,
): Promise<SseEvent[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const events: SseEvent[] = [];
  try {
    const response = await fetch(url, { headers, signal: controller.signal });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let opened = false;
    while (!until(events)) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = Object.fromEntries(
          block
            .split('\n')
            .filter((line) => !line.startsWith(':') && line.includes(': '))
            .map((line) => [line.slice(0, line.indexOf(': ')), line.slice(line.indexOf(': ') + 2)]),
        ) as Record<string, string>;
        if (!fields.event) continue;
        events.push({
          event: fields.event,
          ...(fields.id ? { id: fields.id } : {}),
          data: JSON.parse(fields.data ?? 'null') as unknown,
        });
      }
      if (!opened && onOpen && events.some((e) => e.event === 'ready' || e.event === 'status')) {
        opened = true;
        await onOpen();
      }
    }
    return events;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

const changeEvent = z.object({ table: z.string(), manifest_version: z.number(), row: z.record(z.string(), z.json()) });
const commitEvent = z.object({
  manifest_version: z.number(),
  tables: z.array(z.object({ table: z.string(), epoch: z.number(), changes: z.number() })),
});

describe('REST and MCP over a real socket', () => {
  let fixture: Fixture;
  let runtime: ServeRuntime;
  let http: RunningHttp;
  const auth = (principal: keyof typeof TOKENS) => ({ authorization: `Bearer ${TOKENS[principal]}` });

  before(async () => {
    fixture = await buildFixture();
    await buildHistory(fixture);
    const policy = new FixturePolicy();
    const config = configFor(fixture.root);
    runtime = createServeRuntime({
      config: { ...config, serve: { ...config.serve, http: { ...config.serve.http, rate_limit_per_minute: 30 } } },
      log: silentLogger,
      version: '9.9.9',
      engine: new FixtureEngine(policy),
      policy,
      pollMs: 100,
    });
    http = await listenHttp(runtime, { host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    runtime.watcher.close();
    await http.app.close();
    fixture.cleanup();
  });

  it('binds a free port on loopback and answers 401, 413 and 200 as a client sees them', async () => {
    assert.match(http.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await fetch(`${http.url}/healthz`)).status, 200);
    const anonymous = await fetch(`${http.url}/v1/tables`);
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
    const big = await fetch(`${http.url}/v1/query`, {
      method: 'POST',
      headers: { ...auth('analyst'), 'content-type': 'application/json' },
      body: JSON.stringify({ sql: `SELECT '${'y'.repeat(10_000)}'` }),
    });
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { error: { code: string } }).error.code, 'BODY_TOO_LARGE');
    const ok = await fetch(`${http.url}/v1/tables`, { headers: auth('analyst') });
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  it('serves MCP at /mcp behind the bearer tokens', async () => {
    const refused = await fetch(`${http.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.equal(refused.status, 401);
    const client = new Client({ name: 'socket-test', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(`${http.url}/mcp`), {
      requestInit: { headers: auth('restricted') },
    });
    await client.connect(transport);
    try {
      assert.equal((await client.listTools()).tools.length, 8);
      const listed = (await client.callTool({ name: 'list_tables', arguments: {} })) as CallToolResult;
      assert.deepEqual(
        (listed.structuredContent as { tables: { table: string }[] }).tables.map((t) => t.table),
        ['public.people'],
      );
      const hidden = (await client.callTool({
        name: 'get_snapshot',
        arguments: { table: 'public.orders' },
      })) as CallToolResult;
      assert.equal(hidden.isError, true);
    } finally {
      await client.close();
    }
    assert.equal((await fetch(`${http.url}/mcp`, { headers: auth('analyst') })).status, 405);
  });

  it('pushes changes as a new manifest version lands, and resumes from Last-Event-ID', async () => {
    const latest = (await runtime.service.lake.latest())!;
    const events = await readEvents(
      `${http.url}/v1/stream/events`,
      auth('restricted'),
      (seen) => seen.some((e) => e.event === 'commit'),
      async () => {
        const tables = structuredClone(latest.manifest.tables);
        tables['public.people']!.epoch = 4;
        tables['public.people']!.committed_lsn = '0/3000';
        tables['public.orders']!.epoch = 1;
        await fixture.commit(tables);
      },
    );
    assert.deepEqual(events[0], { event: 'ready', data: { manifest_version: 5 } });
    const changes = events.filter((e) => e.event === 'change');
    assert.deepEqual(
      changes.map((e) => changeEvent.parse(e.data)).map((c) => [c.table, c.manifest_version, c.row]),
      [
        ['public.people', 6, { _op: 'insert', _commit_lsn: 8192, id: 4 }],
        ['public.people', 6, { _op: 'delete', _commit_lsn: 8192, id: 1 }],
      ],
      'orders moved too, but restricted may not see it',
    );
    const commit = events.find((e) => e.event === 'commit')!;
    assert.equal(commit.id, '6');
    assert.deepEqual(commitEvent.parse(commit.data).tables, [{ table: 'public.people', epoch: 4, changes: 2 }]);

    const replay = await readEvents(
      `${http.url}/v1/stream/events`,
      { ...auth('analyst'), 'last-event-id': '5' },
      (seen) => seen.some((e) => e.event === 'commit'),
    );
    assert.deepEqual(
      replay
        .filter((e) => e.event === 'commit')
        .map((e) => [e.id, commitEvent.parse(e.data).tables.map((t) => t.table)]),
      [['6', ['public.orders', 'public.people']]],
    );
  });

  it('streams audit entries and status', async () => {
    // The audit stream has no opening event: read its first bytes, then make a request and watch it arrive.
    const controller = new AbortController();
    const response = await fetch(`${http.url}/v1/stream/audit`, {
      headers: auth('analyst'),
      signal: controller.signal,
    });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await fetch(`${http.url}/v1/catalog`, { headers: auth('restricted') });
    let text = '';
    while (!text.includes('GET /v1/catalog')) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    assert.match(text, /event: audit\ndata: \{.*"principal":"restricted".*"action":"GET \/v1\/catalog"/);

    const status = await readEvents(`${http.url}/v1/stream/status`, auth('restricted'), (seen) => seen.length > 0);
    assert.equal(status[0]!.event, 'status');
    const first = statusOutput.parse(status[0]!.data);
    assert.equal(first.principal, 'restricted');
    assert.equal(first.lake.snapshotted, true);
  });

  it('limits a principal over the socket with 429 and Retry-After', async () => {
    let limited: Response | undefined;
    for (let i = 0; i < 40 && !limited; i++) {
      const response = await fetch(`${http.url}/v1/status`, { headers: auth('restricted') });
      if (response.status === 429) limited = response;
    }
    assert.ok(limited, 'the 31st request in a minute is refused');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.equal(((await limited.json()) as { error: { code: string } }).error.code, 'RATE_LIMITED');
  });
});
