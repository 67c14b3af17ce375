import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { HttpToken } from '../../core/config/index.js';
import type { Logger } from '../../core/log/index.js';
import { ApiError } from '../errors.js';
import type { Instrumentation } from '../instrument.js';
import type { ServeService } from '../service/index.js';
import type { ManifestWatcher } from '../watch.js';
import { bearerToken, hostName, isLoopbackHost, TokenAuthenticator } from './auth.js';
import { installErrorHandling } from './error-handler.js';
import { RateLimiter } from './rate-limit.js';
import { registerConsoleRoutes } from './routes-console.js';
import { registerDataRoutes } from './routes-data.js';
import { registerOpsRoutes } from './routes-ops.js';
import type { ApiContext, RouteSpec } from './routes.js';

/**
 * The REST app, built by a factory so tests drive it with `inject()` and `pg-cdc serve --http` listens with it.
 * Order of checks on every request that is not public: bearer token → principal (401), then the principal's rate
 * limit (429), then the body (413, 400), then the route.
 */
export interface AppOptions {
  readonly service: ServeService;
  readonly instrumentation: Instrumentation;
  readonly watcher: ManifestWatcher;
  readonly log: Logger;
  readonly version: string;
  readonly tokens: readonly HttpToken[];
  readonly bodyLimitBytes: number;
  readonly rateLimitPerMinute: number;
  /**
   * With no tokens configured (a loopback-only server), requests without a token act as this principal
   * (serve.mcp.principal); without it they are refused.
   */
  readonly anonymousPrincipal?: string;
  /** For tests: the rate limiter's clock. */
  readonly now?: () => number;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  // Typed as Fastify's logger view so the app keeps Fastify's default logger type parameter.
  const loggerInstance: FastifyBaseLogger = options.log.child({ component: 'http' });
  const app: FastifyInstance = Fastify({
    loggerInstance,
    // Requests are logged once, by the instrumentation (with principal and outcome), not twice.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
    requestIdHeader: false,
    genReqId: () => randomUUID(),
  });
  const authenticator = new TokenAuthenticator(options.tokens);
  const limiter = new RateLimiter(options.rateLimitPerMinute, options.now);
  const { metrics } = options.instrumentation;
  installErrorHandling(app, options.bodyLimitBytes);

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
    if (request.routeOptions.config?.public) return;
    const token = bearerToken(request.headers.authorization);
    let principal: string | undefined;
    if (token !== undefined) {
      principal = authenticator.principalOf(token);
      if (principal === undefined) {
        metrics.authFailures.inc({ reason: 'unknown_token' });
        throw new ApiError('UNAUTHORIZED', 'the bearer token is not valid', {
          hint: 'use a token whose sha256 is listed in serve.http.tokens',
        });
      }
    } else if (!authenticator.configured && options.anonymousPrincipal !== undefined) {
      // A browser page can reach a loopback server through a rebound DNS name; only loopback names may skip auth.
      if (!isLoopbackHost(hostName(request.headers.host))) {
        throw new ApiError('HOST_NOT_ALLOWED', 'requests without a token must be addressed to a loopback host', {
          hint: 'use http://127.0.0.1:<port>, or configure serve.http.tokens',
        });
      }
      principal = options.anonymousPrincipal;
    } else {
      metrics.authFailures.inc({ reason: 'missing_token' });
      throw new ApiError('UNAUTHORIZED', 'this route needs a bearer token', {
        hint: authenticator.configured
          ? 'send `Authorization: Bearer <token>`'
          : 'configure serve.http.tokens, or serve.mcp.principal for unauthenticated loopback use',
      });
    }
    const admission = limiter.take(principal);
    if (!admission.allowed) {
      metrics.rateLimited.inc();
      throw new ApiError('RATE_LIMITED', `rate limit of ${options.rateLimitPerMinute} requests per minute reached`, {
        hint: `retry in ${admission.retryAfterSeconds} s (serve.http.rate_limit_per_minute)`,
        retryAfter: admission.retryAfterSeconds,
      });
    }
    request.principal = principal;
  });

  const routes: RouteSpec[] = [];
  const context: ApiContext = {
    service: options.service,
    instrumentation: options.instrumentation,
    watcher: options.watcher,
    version: options.version,
    routes,
  };
  registerDataRoutes(app, context);
  registerConsoleRoutes(app, context);
  registerOpsRoutes(app, context);
  await app.ready();
  return app;
}
