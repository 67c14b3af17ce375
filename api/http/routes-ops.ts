import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError, errorBody } from '../errors.js';
import { createMcpServer } from '../mcp/server.js';
import { healthOutput } from '../schemas/console.js';
import { openApiDocument } from './openapi.js';
import { addRoute, principalOf, type ApiContext } from './routes.js';

/**
 * Health, metrics and the OpenAPI document (open, for probes and scrapers), and MCP over Streamable HTTP at /mcp
 * behind the same bearer tokens as the REST routes. MCP over HTTP is stateless: each POST gets a server for the
 * token's principal, so nothing is kept between requests and any instance can answer any request.
 */
const jsonRpcError = (message: string) =>
  JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null });

export function registerOpsRoutes(app: FastifyInstance, context: ApiContext): void {
  const route = addRoute.bind(null, app, context);
  const { instrumentation } = context;

  route({ method: 'GET', url: '/healthz', tag: 'ops', public: true, summary: 'Liveness', response: healthOutput }, () =>
    Promise.resolve({ status: 'ok' as const, uptime_seconds: Math.round(process.uptime()) }),
  );

  route(
    {
      method: 'GET',
      url: '/metrics',
      tag: 'ops',
      public: true,
      summary: 'Prometheus metrics (pgcdc_*)',
      produces: 'text',
      description: 'Prometheus text exposition format 0.0.4',
    },
    (_request, reply) => {
      void reply.type('text/plain; version=0.0.4; charset=utf-8');
      return Promise.resolve(instrumentation.metrics.render());
    },
  );

  route(
    {
      method: 'GET',
      url: '/v1/openapi.json',
      tag: 'ops',
      public: true,
      summary: 'This API as OpenAPI 3',
      response: z.object({}),
    },
    () => Promise.resolve(openApiDocument(context.routes, context.version)),
  );

  route(
    {
      method: 'POST',
      url: '/mcp',
      tag: 'mcp',
      summary: "MCP (Streamable HTTP, stateless): the eight tools for the token's principal",
      body: z
        .object({ jsonrpc: z.literal('2.0') })
        .loose()
        .describe('a JSON-RPC message or batch'),
      description: 'a JSON-RPC response (application/json) or an SSE stream of them',
    },
    async (request, reply) => {
      const server = createMcpServer({
        service: context.service,
        instrumentation,
        principal: principalOf(request),
        version: context.version,
      });
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      void reply.hijack();
      reply.raw.once('close', () => {
        void transport.close();
        void server.close();
      });
      try {
        await server.connect(transport);
        await transport.handleRequest(request.raw, reply.raw, request.body);
      } catch (error) {
        instrumentation.log.error({ err: error, reqId: request.id }, 'MCP request failed');
        if (!reply.raw.headersSent) {
          reply.raw.writeHead(500, { 'content-type': 'application/json' }).end(jsonRpcError('internal error'));
        }
      }
    },
  );

  for (const method of ['GET', 'DELETE'] as const) {
    app.route({
      method,
      url: '/mcp',
      handler: (request, reply) => {
        const error = new ApiError(
          'METHOD_NOT_ALLOWED',
          `${method} /mcp is not served: this MCP endpoint is stateless`,
          {
            hint: 'send each JSON-RPC message with POST /mcp',
          },
        );
        void reply.status(error.status).header('allow', 'POST').send(errorBody(error, request.id));
      },
    });
  }
}
