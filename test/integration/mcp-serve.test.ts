/**
 * `pg-cdc serve --mcp` over a real lake made by `pg-cdc init`, with the real query engine and governance: the
 * SDK's own Client speaks to the spawned server over stdio, and the MCP Inspector CLI (when it can run here)
 * lists the eight tools and calls each one. Every answer is checked against PostgreSQL or the lake on disk.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import {
  describeTableOutput,
  diffOutput,
  freshnessOutput,
  listTablesOutput,
  manifestOutput,
  queryOutput,
  snapshotOutput,
} from '../../api/schemas/outputs.js';
import { PG_CDC_BIN } from '../support/cli.js';
import { inspector, inspectorJson, inspectorUnavailable, snapshotLake, type ServeLake } from './api-support.js';

const TOOLS = [
  'describe_table',
  'get_changes',
  'get_diff',
  'get_freshness',
  'get_manifest',
  'get_snapshot',
  'list_tables',
  'query',
];

describe('pg-cdc serve --mcp over a real lake', () => {
  let lake: ServeLake;
  let client: Client;
  let serverStderr = '';
  const protocolErrors: Error[] = [];

  const call = async (name: string, args: Record<string, unknown> = {}) =>
    (await client.callTool({ name, arguments: args })) as CallToolResult;
  const text = (result: CallToolResult): string =>
    result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
  const structured = async <S extends z.ZodType>(name: string, args: Record<string, unknown>, schema: S) => {
    const result = await call(name, args);
    assert.notEqual(result.isError, true, `${name}: ${text(result)}`);
    return schema.parse(result.structuredContent);
  };

  before(async () => {
    lake = await snapshotLake('mcp_serve');
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [PG_CDC_BIN, '--config', lake.config, 'serve', '--mcp'],
      env: { ...(process.env as Record<string, string>), PGCDC_LOG_LEVEL: 'info' },
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (chunk: Buffer) => (serverStderr += chunk.toString()));
    client = new Client({ name: 'pg-cdc-test', version: '1' });
    client.onerror = (error) => protocolErrors.push(error);
    await client.connect(transport);
  });
  after(async () => {
    await client?.close();
  });

  it('lists the eight tools with input and output schemas', async () => {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), TOOLS);
    for (const tool of tools) assert.equal(tool.outputSchema?.type, 'object', tool.name);
  });

  it('reads tables as the configured principal, with the pii column invisible', async () => {
    const tables = await structured('list_tables', {}, listTablesOutput);
    const state = tables.tables.filter((t) => t.kind === 'state');
    assert.deepEqual(
      state.map((t) => [t.table, t.row_count]),
      [
        ['public.orders', 7],
        ['public.people', 5],
      ],
    );
    const people = await structured('describe_table', { table: 'public.people' }, describeTableOutput);
    assert.deepEqual(
      people.columns.map((c) => c.name),
      ['id', 'name', 'amount', 'born'],
    );
    assert.deepEqual(people.primary_key, ['id']);

    const rows = await structured(
      'query',
      {
        table: 'public.people',
        columns: ['id', 'name', 'amount'],
        filters: [{ column: 'amount', op: 'gt', value: 0 }],
      },
      queryOutput,
    );
    const expected = await lake.db.sql<{ id: string; name: string; amount: string }>(
      'SELECT id, name, amount::text AS amount FROM people WHERE amount > 0 ORDER BY id',
    );
    assert.deepEqual(
      [...rows.rows].sort((a, b) => Number(a[0]) - Number(b[0])),
      expected.map((r) => [Number(r.id), r.name, r.amount]),
    );
    const sql = await structured(
      'query',
      { sql: 'SELECT status, count(*) AS n FROM "public"."orders" GROUP BY status ORDER BY status' },
      queryOutput,
    );
    const counts = await lake.db.sql<{ status: string; n: number }>(
      'SELECT status, count(*)::int AS n FROM orders GROUP BY status ORDER BY status',
    );
    assert.deepEqual(
      sql.rows,
      counts.map((r) => [r.status, r.n]),
    );

    const hidden = await call('query', { table: 'public.people', columns: ['id', 'email'] });
    assert.equal(hidden.isError, true);
    assert.match(text(hidden), /^COLUMN_NOT_FOUND: /);
    assert.doesNotMatch(text(hidden), /ada@example/);
  });

  it('answers the lake tools from the lake itself', async () => {
    const manifest = await structured('get_manifest', {}, manifestOutput);
    assert.deepEqual(Object.keys(manifest.tables).sort(), ['public.orders', 'public.people']);
    assert.deepEqual(manifest.tables['public.people']!.columns, ['id', 'name', 'amount', 'born']);
    assert.equal(typeof manifest.policy_version, 'number');

    const freshness = await structured('get_freshness', {}, freshnessOutput);
    assert.equal(freshness.manifest_version, manifest.version);
    assert.equal(freshness.is_stale, freshness.lag_seconds > freshness.max_lag_seconds);
    assert.deepEqual(
      freshness.tables.map((t) => [t.table, t.epoch]),
      [
        ['public.orders', 0],
        ['public.people', 0],
      ],
    );

    const snapshot = await structured('get_snapshot', { table: 'public.people' }, snapshotOutput);
    assert.equal(snapshot.snapshot_id, manifest.tables['public.people']!.snapshot_id);
    assert.equal(snapshot.record_count, 5);
    assert.ok(snapshot.data_files.length >= 1);
    for (const file of snapshot.data_files) assert.ok(existsSync(fileURLToPath(file.path)), file.path);
    assert.ok(existsSync(fileURLToPath(snapshot.metadata_location)));

    const diff = await structured('get_diff', { from: 'v1', to: 'latest' }, diffOutput);
    assert.equal(diff.from.manifest_version, 1);
    assert.equal(diff.to.manifest_version, manifest.version);
    assert.ok(['safe', 'schema_change'].includes(diff.classification), diff.classification);
    assert.equal(diff.promote_safe, true);
  });

  it('reads the change log, and reports every failure as an isError result', async () => {
    const changes = await call('get_changes', { table: 'public.people', since_epoch: 0 });
    if (changes.isError) {
      // Before `pg-cdc start` has streamed anything, a table may have no changelog yet: that must be said clearly.
      assert.match(text(changes), /^(TABLE_NOT_FOUND|EPOCH_NOT_FOUND|NOT_AVAILABLE): .+\nhint: /);
    } else {
      assert.equal(queryOutput.parse(changes.structuredContent).row_count, 0);
    }
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['describe_table', { table: 'public.nope' }, /^TABLE_NOT_FOUND: /],
      ['query', { sql: 'DROP TABLE "public"."people"' }, /^QUERY_INVALID: /],
      ['query', { table: 'public.people', filters: [{ column: 'id', op: 'eq', value: 'x' }] }, /^QUERY_FAILED: /],
      ['get_diff', { from: 'v999' }, /^REF_NOT_FOUND: /],
      ['query', { table: 'public.people', limit: -1 }, /limit/],
    ];
    for (const [name, args, message] of cases) {
      const result = await call(name, args);
      assert.equal(result.isError, true, `${name} ${JSON.stringify(args)}`);
      assert.match(text(result), message);
      assert.doesNotMatch(text(result), /Binder Error|Parser Error|Conversion Error|\/tmp\//);
    }
    assert.equal((await lake.db.sql('SELECT count(*)::int AS n FROM people'))[0]?.n, 5);
  });

  it('keeps stdout for the protocol and logs to stderr', () => {
    assert.deepEqual(protocolErrors, []);
    const lines = serverStderr.split('\n').filter(Boolean);
    assert.ok(
      lines.some((line) => /"msg":"MCP server on stdio"/.test(line)),
      serverStderr,
    );
    assert.ok(lines.some((line) => /"audit":true/.test(line) && /"action":"query"/.test(line)));
  });
});

describe('the MCP Inspector CLI against pg-cdc serve --mcp', () => {
  let lake: ServeLake;
  let skip: string | undefined;
  const server = (): string[] => ['--', process.execPath, PG_CDC_BIN, 'serve', '--mcp'];
  const env = (): string[] => ['-e', `PGCDC_CONFIG=${lake.config}`, '-e', 'PGCDC_LOG_LEVEL=warn'];

  before(async () => {
    skip = await inspectorUnavailable();
    if (!skip) lake = await snapshotLake('mcp_inspector');
  });

  it('lists the eight tools', async (t) => {
    if (skip) return t.skip(skip);
    const listed = await inspector([...env(), '--method', 'tools/list', ...server()]);
    assert.equal(listed.code, 0, listed.stderr);
    const { tools } = inspectorJson<{ tools: { name: string; outputSchema?: object }[] }>(listed);
    assert.deepEqual(tools.map((tool) => tool.name).sort(), TOOLS);
    assert.ok(tools.every((tool) => tool.outputSchema));
  });

  it('calls each tool and gets structured content; an error is isError', async (t) => {
    if (skip) return t.skip(skip);
    const calls: [string, string[], (content: Record<string, unknown>) => void][] = [
      ['list_tables', [], (c) => assert.ok(listTablesOutput.parse(c).tables.some((x) => x.table === 'public.people'))],
      ['describe_table', ['table=public.orders'], (c) => assert.equal(describeTableOutput.parse(c).columns.length, 3)],
      [
        'query',
        ['table=public.orders', 'filters=[{"column":"status","op":"eq","value":"shipped"}]', 'limit=10'],
        (c) => assert.equal(queryOutput.parse(c).row_count, 3),
      ],
      ['get_changes', ['table=public.orders', 'since_epoch=0'], () => undefined],
      ['get_manifest', [], (c) => assert.ok(manifestOutput.parse(c).tables['public.orders'])],
      ['get_freshness', ['table=public.orders'], (c) => assert.equal(freshnessOutput.parse(c).tables.length, 1)],
      ['get_snapshot', ['table=public.orders'], (c) => assert.equal(snapshotOutput.parse(c).record_count, 7)],
      ['get_diff', ['from=v1'], (c) => assert.equal(diffOutput.parse(c).from.manifest_version, 1)],
    ];
    for (const [name, args, check] of calls) {
      const result = await inspector([
        ...env(),
        '--method',
        'tools/call',
        '--tool-name',
        name,
        ...(args.length ? ['--tool-arg', ...args] : []),
        ...server(),
      ]);
      const body = inspectorJson<{ isError?: boolean; structuredContent?: Record<string, unknown> }>(result);
      if (name === 'get_changes' && body.isError) continue; // no changelog before streaming: checked above
      assert.equal(result.code, 0, `${name}: ${result.stdout}${result.stderr}`);
      assert.ok(body.structuredContent, name);
      check(body.structuredContent);
    }
    const failed = await inspector([
      ...env(),
      '--method',
      'tools/call',
      '--tool-name',
      'describe_table',
      '--tool-arg',
      'table=public.nope',
      ...server(),
    ]);
    assert.notEqual(failed.code, 0);
    const body = inspectorJson<{ isError: boolean; content: { text: string }[] }>(failed);
    assert.equal(body.isError, true);
    assert.match(body.content[0]!.text, /^TABLE_NOT_FOUND: /);
  });
});
