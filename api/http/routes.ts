import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Instrumentation, Tracked } from '../instrument.js';
import type { ServeService } from '../service/index.js';
import type { ManifestWatcher } from '../watch.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook on every non-public route. */
    principal?: string;
  }
  interface FastifyContextConfig {
    /** Served without a token (health, metrics, the OpenAPI document). */
    public?: boolean;
  }
}

/**
 * Routes are declared once, with their schemas: the same declaration registers the Fastify route, validates the
 * request, and becomes the route's entry in /v1/openapi.json, so the document cannot drift from the server.
 */
export interface RouteSpec {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** Fastify syntax: `/v1/tables/:name`. */
  readonly url: string;
  readonly summary: string;
  readonly tag: 'data' | 'console' | 'streams' | 'ops' | 'mcp';
  readonly public?: boolean;
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly body?: z.ZodType;
  /** The 200 body; for `sse` and `text`, a description of the stream instead. */
  readonly response?: z.ZodType;
  readonly produces?: 'json' | 'sse' | 'text';
  readonly description?: string;
}

export interface ApiContext {
  readonly service: ServeService;
  readonly instrumentation: Instrumentation;
  readonly watcher: ManifestWatcher;
  readonly version: string;
  readonly routes: RouteSpec[];
}

export type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export function addRoute(app: FastifyInstance, context: ApiContext, spec: RouteSpec, handler: Handler): void {
  context.routes.push(spec);
  app.route({ method: spec.method, url: spec.url, config: { public: spec.public ?? false }, handler });
}

/** The authenticated principal; the auth hook guarantees it on every route that is not public. */
export function principalOf(request: FastifyRequest): string {
  if (request.principal === undefined) throw new Error('route reached without a principal');
  return request.principal;
}

/** Runs a request's work under the instrumentation (timing, metrics, audit) as `<METHOD> <route>`. */
export function track<T>(
  context: ApiContext,
  request: FastifyRequest,
  tables: readonly string[],
  work: (principal: string) => Promise<T>,
  extra: Pick<Tracked<T>, 'rows' | 'resultTables'> = {},
): Promise<T> {
  const principal = principalOf(request);
  return context.instrumentation.track(
    {
      door: 'http',
      action: `${request.method} ${request.routeOptions.url ?? request.url}`,
      principal,
      requestId: request.id,
      tables,
      ...extra,
    },
    () => work(principal),
  );
}
