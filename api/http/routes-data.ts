import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  changesInput,
  describeTableInput,
  diffInput,
  freshnessInput,
  manifestInput,
  queryInput,
  refName,
  snapshotInput,
  tableName,
} from '../schemas/inputs.js';
import {
  describeTableOutput,
  diffOutput,
  freshnessOutput,
  listTablesOutput,
  manifestOutput,
  queryOutput,
  snapshotOutput,
} from '../schemas/outputs.js';
import { addRoute, track, type ApiContext } from './routes.js';
import { parseRequest } from './validation.js';

/**
 * The data plane: the same operations as the MCP tools, over HTTP. Query strings are text, so their numbers are
 * coerced here and the result is checked with the very input schema the MCP tool uses.
 */
const nameParam = z.strictObject({ name: tableName });
const count = (min: number) => z.coerce.number().int().min(min);
const list = z
  .string()
  .min(1)
  .transform((text) => text.split(',').map((c) => c.trim()))
  .describe('comma-separated');

const changesQuery = z.strictObject({
  since_epoch: count(0).optional(),
  since_lsn: z.string().optional(),
  columns: list.optional(),
  limit: count(1).optional(),
});
const snapshotQuery = z.strictObject({ ref: refName.optional(), snapshot_id: z.string().optional() });
const freshnessQuery = z.strictObject({
  table: tableName.optional(),
  max_lag_seconds: z.coerce.number().positive().optional(),
});
const manifestQuery = z.strictObject({ ref: refName.optional() });
const diffQuery = z.strictObject({ from: refName, to: refName.optional() });

const rows = (result: { row_count: number }): number => result.row_count;

export function registerDataRoutes(app: FastifyInstance, context: ApiContext): void {
  const { service } = context;
  const route = addRoute.bind(null, app, context);

  route(
    { method: 'GET', url: '/v1/tables', tag: 'data', summary: 'Tables you may read', response: listTablesOutput },
    (request) => track(context, request, [], (principal) => service.listTables(principal)),
  );

  route(
    {
      method: 'GET',
      url: '/v1/tables/:name',
      tag: 'data',
      summary: 'Columns and current snapshot of one table',
      params: nameParam,
      response: describeTableOutput,
    },
    (request) => {
      const input = parseRequest(describeTableInput, { table: paramName(request.params) }, 'path');
      return track(context, request, [input.table], (principal) => service.describeTable(principal, input));
    },
  );

  route(
    {
      method: 'GET',
      url: '/v1/tables/:name/changes',
      tag: 'data',
      summary: 'Changes of a table after an epoch or LSN',
      params: nameParam,
      query: changesQuery,
      response: queryOutput,
    },
    (request) => {
      const query = parseRequest(changesQuery, request.query, 'query');
      const input = parseRequest(changesInput, { table: paramName(request.params), ...query }, 'query');
      return track(context, request, [input.table], (principal) => service.changes(principal, input), { rows });
    },
  );

  route(
    {
      method: 'GET',
      url: '/v1/tables/:name/snapshot',
      tag: 'data',
      summary: 'Snapshot id, metadata file and Parquet files of a table',
      params: nameParam,
      query: snapshotQuery,
      response: snapshotOutput,
    },
    (request) => {
      const query = parseRequest(snapshotQuery, request.query, 'query');
      const input = parseRequest(snapshotInput, { table: paramName(request.params), ...query }, 'query');
      return track(context, request, [input.table], (principal) => service.snapshot(principal, input));
    },
  );

  route(
    {
      method: 'POST',
      url: '/v1/query',
      tag: 'data',
      summary: 'Read rows: a table query or one read-only SELECT',
      body: queryInput,
      response: queryOutput,
    },
    (request) => {
      const input = parseRequest(queryInput, request.body ?? {}, 'body');
      return track(context, request, input.table ? [input.table] : [], (p) => service.query(p, input), {
        rows,
        resultTables: (result) => Object.keys(result.snapshots),
      });
    },
  );

  route(
    {
      method: 'GET',
      url: '/v1/freshness',
      tag: 'data',
      summary: 'Is the lake current: lag, staleness, schema and policy versions',
      query: freshnessQuery,
      response: freshnessOutput,
    },
    (request) => {
      const input = parseRequest(freshnessInput, parseRequest(freshnessQuery, request.query, 'query'), 'query');
      return track(context, request, input.table ? [input.table] : [], (p) => service.freshness(p, input));
    },
  );

  route(
    {
      method: 'GET',
      url: '/v1/manifest',
      tag: 'data',
      summary: 'The manifest, latest or at a ref',
      query: manifestQuery,
      response: manifestOutput,
    },
    (request) => {
      const input = parseRequest(manifestInput, parseRequest(manifestQuery, request.query, 'query'), 'query');
      return track(context, request, [], (principal) => service.manifest(principal, input));
    },
  );

  route(
    {
      method: 'GET',
      url: '/v1/diff',
      tag: 'data',
      summary: 'Contract diff between two refs',
      query: diffQuery,
      response: diffOutput,
    },
    (request) => {
      const input = parseRequest(diffInput, parseRequest(diffQuery, request.query, 'query'), 'query');
      return track(context, request, [], (principal) => service.diff(principal, input));
    },
  );
}

function paramName(params: unknown): unknown {
  return (params as { name?: unknown }).name;
}
