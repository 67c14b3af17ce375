import { z } from 'zod';
import type { RouteSpec } from './routes.js';

/**
 * The OpenAPI 3 document, built from the route declarations and their zod schemas (the schemas that also validate
 * the requests), so every route the server has is described and nothing it lacks is.
 */
type JsonObject = Record<string, unknown>;

const toSchema = (schema: z.ZodType, io: 'input' | 'output'): JsonObject => {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as JsonObject;
  delete json.$schema;
  return json;
};

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'stable code a client can match on, e.g. TABLE_NOT_FOUND' },
        message: { type: 'string' },
        hint: { type: 'string', description: 'what to do about it' },
      },
    },
  },
};

const ERROR_RESPONSES: Readonly<Record<string, string>> = {
  '400': 'the request is malformed; the message names the field',
  '401': 'missing or unknown bearer token',
  '404': 'no such table, snapshot or ref (or one you may not see)',
  '413': 'the body is larger than serve.http.body_limit_bytes',
  '429': 'rate limit reached; Retry-After says when to retry',
  '500': 'failed on the server; the message names the request id',
};

function parameters(spec: RouteSpec): JsonObject[] {
  const out: JsonObject[] = [];
  for (const [where, object] of [
    ['path', spec.params],
    ['query', spec.query],
  ] as const) {
    if (!object) continue;
    for (const [name, field] of Object.entries(object.shape)) {
      const schema = toSchema(field as z.ZodType, 'input');
      out.push({
        name,
        in: where,
        required: where === 'path' || !(field as z.ZodType).safeParse(undefined).success,
        schema,
        ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
      });
    }
  }
  return out;
}

function operation(spec: RouteSpec): JsonObject {
  const responses: JsonObject = {};
  if (spec.produces === 'sse') {
    responses['200'] = {
      description: spec.description ?? 'a stream of Server-Sent Events',
      content: { 'text/event-stream': { schema: { type: 'string' } } },
    };
  } else if (spec.produces === 'text') {
    responses['200'] = {
      description: spec.description ?? 'text',
      content: { 'text/plain': { schema: { type: 'string' } } },
    };
  } else {
    responses['200'] = {
      description: spec.description ?? 'success',
      content: { 'application/json': { schema: spec.response ? toSchema(spec.response, 'output') : {} } },
    };
  }
  for (const [status, description] of Object.entries(ERROR_RESPONSES)) {
    if (spec.public && status !== '500') continue;
    if (status === '413' && !spec.body) continue;
    responses[status] = {
      description,
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
  }
  return {
    operationId: `${spec.method.toLowerCase()}${spec.url.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase())}`,
    summary: spec.summary,
    tags: [spec.tag],
    ...(spec.public ? { security: [] } : {}),
    parameters: parameters(spec),
    ...(spec.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: toSchema(spec.body, 'input') } } } }
      : {}),
    responses,
  };
}

export function openApiDocument(routes: readonly RouteSpec[], version: string): JsonObject {
  const paths: Record<string, JsonObject> = {};
  for (const spec of routes) {
    const path = spec.url.replace(/:([A-Za-z_]+)/g, '{$1}');
    paths[path] = { ...paths[path], [spec.method.toLowerCase()]: operation(spec) };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'pg-cdc',
      version,
      description:
        'Governed, read-only access to PostgreSQL tables replicated into Apache Iceberg. Every route but /healthz, ' +
        '/metrics and this document needs `Authorization: Bearer <token>` (tokens map to principals in ' +
        'serve.http.tokens); what a principal may not see does not exist for it.',
    },
    tags: [
      { name: 'data', description: 'data plane' },
      { name: 'console', description: 'status, catalog and audit' },
      { name: 'streams', description: 'Server-Sent Events' },
      { name: 'mcp', description: 'Model Context Protocol over Streamable HTTP' },
      { name: 'ops', description: 'health, metrics and this document; no authentication' },
    ],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: errorSchema },
    },
    paths,
  };
}
