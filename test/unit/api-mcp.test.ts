/**
 * The MCP server through the SDK's own Client over an in-memory transport: the eight tools with input and output
 * schemas, structured results that the client validates against those schemas, and every failure as an isError
 * result with the code and hint (never a protocol error, never an internal text).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import { silentLogger } from '../../core/log/index.js';
import {
  describeTableOutput,
  diffOutput,
  freshnessOutput,
  listTablesOutput,
  manifestOutput,
  queryOutput,
  snapshotOutput,
} from '../../api/schemas/outputs.js';
import { createMcpServer } from '../../api/mcp/server.js';
import { createServeRuntime, type ServeRuntime } from '../../api/serve.js';
import { buildFixture, buildHistory, configFor, FixtureEngine, FixturePolicy, type Fixture } from './api-fixture.js';

const TOOL_NAMES = [
  'describe_table',
  'get_changes',
  'get_diff',
  'get_freshness',
  'get_manifest',
  'get_snapshot',
  'list_tables',
  'query',
];

describe('MCP server (SDK client, in-memory transport)', () => {
  let fixture: Fixture;
  let runtime: ServeRuntime;
  const clients: Client[] = [];

  async function connect(principal: string): Promise<Client> {
    const server = createMcpServer({
      service: runtime.service,
      instrumentation: runtime.instrumentation,
      principal,
      version: '9.9.9',
    });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: 'test', version: '1' });
    await client.connect(clientSide);
    clients.push(client);
    return client;
  }

  const call = async (client: Client, name: string, args: Record<string, unknown> = {}) =>
    (await client.callTool({ name, arguments: args })) as CallToolResult;
  const text = (result: CallToolResult): string =>
    result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');

  before(async () => {
    fixture = await buildFixture();
    await buildHistory(fixture);
    const policy = new FixturePolicy();
    runtime = createServeRuntime({
      config: configFor(fixture.root),
      log: silentLogger,
      version: '9.9.9',
      engine: new FixtureEngine(policy),
      policy,
    });
  });
  after(async () => {
    for (const client of clients) await client.close();
    fixture.cleanup();
  });

  it('lists eight read-only tools, each with an input and an output schema', async () => {
    const client = await connect('analyst');
    assert.equal(client.getServerVersion()?.name, 'pg-cdc');
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), TOOL_NAMES);
    for (const tool of tools) {
      assert.equal(tool.inputSchema.type, 'object', tool.name);
      assert.equal(tool.outputSchema?.type, 'object', `${tool.name} has an output schema`);
      assert.equal(tool.annotations?.readOnlyHint, true);
      assert.ok((tool.description ?? '').length > 40, `${tool.name} is described`);
    }
    const query = tools.find((t) => t.name === 'query')!;
    assert.deepEqual(Object.keys(query.inputSchema.properties ?? {}).sort(), [
      'columns',
      'filters',
      'limit',
      'ref',
      'snapshot_id',
      'sql',
      'table',
    ]);
  });

  it('answers every tool with structured content the client validated, plus a text rendering', async () => {
    const client = await connect('analyst');
    /** Calls a tool that must succeed; its structured content, parsed with the tool's own output schema. */
    const structured = async <S extends z.ZodType>(name: string, args: Record<string, unknown>, schema: S) => {
      const result = await call(client, name, args);
      assert.notEqual(result.isError, true, `${name}: ${text(result)}`);
      assert.ok(text(result).length > 0, `${name} has a text rendering`);
      return schema.parse(result.structuredContent);
    };
    const tables = await structured('list_tables', {}, listTablesOutput);
    assert.deepEqual(
      tables.tables.map((t) => t.table),
      ['public.people', 'public.orders'],
    );
    const described = await structured('describe_table', { table: 'public.people' }, describeTableOutput);
    assert.deepEqual(
      described.columns.map((c) => c.name),
      ['id', 'name', 'email'],
    );
    const filters = [{ column: 'id', op: 'gte', value: 1 }];
    const queried = await structured('query', { table: 'public.people', filters, limit: 2 }, queryOutput);
    assert.deepEqual(queried.rows, [
      [1, 'Ada'],
      [2, 'Grace'],
    ]);
    const changes = await structured('get_changes', { table: 'public.people', since_epoch: 0 }, queryOutput);
    assert.deepEqual(changes.rows[0], ['insert', 8192, 4]);
    const manifest = await structured('get_manifest', {}, manifestOutput);
    assert.deepEqual(Object.keys(manifest.tables).sort(), ['public.orders', 'public.people']);
    assert.equal((await structured('get_freshness', {}, freshnessOutput)).is_stale, false);
    assert.equal((await structured('get_snapshot', { table: 'public.orders' }, snapshotOutput)).record_count, 5);
    const diff = await structured('get_diff', { from: 'v3', to: 'v4' }, diffOutput);
    assert.deepEqual([diff.classification, diff.promote_safe], ['breaking', false]);
    const rows = await call(client, 'query', { table: 'public.people', limit: 2 });
    assert.deepEqual(text(rows).split('\n').slice(1), ['["id","name"]', '[1,"Ada"]', '[2,"Grace"]']);
  });

  it('applies the principal: what it may not see does not exist', async () => {
    const client = await connect('restricted');
    const listed = await call(client, 'list_tables');
    assert.deepEqual(
      listTablesOutput.parse(listed.structuredContent).tables.map((t) => t.table),
      ['public.people'],
    );
    const hidden = await call(client, 'describe_table', { table: 'public.orders' });
    assert.equal(hidden.isError, true);
    assert.match(text(hidden), /^TABLE_NOT_FOUND: /);
    const manifest = await call(client, 'get_manifest', {});
    const tables = manifestOutput.parse(manifest.structuredContent).tables;
    assert.deepEqual(Object.keys(tables), ['public.people']);
    assert.ok(!tables['public.people']!.columns.includes('email'));
  });

  it('turns every failure into an isError result with code and hint', async () => {
    const client = await connect('analyst');
    const invalid = await call(client, 'query', { table: 'public.people', filters: [{ column: 'id', op: 'between' }] });
    assert.equal(invalid.isError, true);
    assert.match(text(invalid), /filters/);
    const missingArg = await call(client, 'describe_table', {});
    assert.equal(missingArg.isError, true);
    assert.match(text(missingArg), /table/);
    const badRef = await call(client, 'get_diff', { from: 'v42' });
    assert.equal(badRef.isError, true);
    assert.match(text(badRef), /^REF_NOT_FOUND: manifest version 42 does not exist\nhint: versions run from v1 to v5$/);
    const internal = await call(client, 'query', { sql: 'SELECT boom' });
    assert.equal(internal.isError, true);
    assert.match(text(internal), /^INTERNAL: the request failed on the server \(request [0-9a-f-]{36}\)/);
    assert.doesNotMatch(text(internal), /secret|IO Error|parquet/);
    const stranger = await connect('nobody');
    const unknown = await call(stranger, 'list_tables');
    assert.equal(unknown.isError, true);
    assert.match(text(unknown), /^PRINCIPAL_UNKNOWN: .*\nhint: /);
  });

  it('records each call in the audit log and the metrics', async () => {
    const summary = runtime.instrumentation.audit.summary(() => true, 1000);
    const mcp = summary.recent.filter((e) => e.via === 'mcp');
    assert.ok(mcp.some((e) => e.action === 'query' && e.principal === 'analyst' && e.rows === 2));
    assert.ok(mcp.some((e) => e.action === 'describe_table' && e.outcome === 'error' && e.code === 'TABLE_NOT_FOUND'));
    assert.match(
      await runtime.instrumentation.metrics.render(),
      /^pgcdc_serve_requests_total\{door="mcp",action="get_diff",outcome="ok"\} 1$/m,
    );
  });
});
