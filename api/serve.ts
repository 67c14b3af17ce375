import type { FastifyInstance } from 'fastify';
import type { PgCdcConfig } from '../core/config/index.js';
import type { Logger } from '../core/log/index.js';
import type { QueryEngine } from '../engine/types.js';
import type { AccessPolicy } from '../governance/types.js';
import { openLake } from '../lake/open.js';
import { AuditLog } from './audit.js';
import { buildApp } from './http/app.js';
import { assertSafeBinding, TokenAuthenticator } from './http/auth.js';
import { Instrumentation } from './instrument.js';
import { serveStdio } from './mcp/server.js';
import { configureMetrics } from '../core/metrics/index.js';
import { createServeMetrics } from './metrics.js';
import { engineVisibility, LakeView, policyVisibility, ServeService } from './service/index.js';
import { ManifestWatcher } from './watch.js';

/**
 * What `pg-cdc serve` runs, assembled from the configuration and a query engine: one service, one audit log and
 * one set of metrics shared by the MCP server on stdio and the HTTP server (REST, SSE and MCP at /mcp).
 */
export interface ServeRuntimeOptions {
  readonly config: PgCdcConfig;
  readonly log: Logger;
  readonly version: string;
  readonly engine: QueryEngine;
  /** Governance; without it, what the engine lists decides what the lake views show. */
  readonly policy?: AccessPolicy;
  /** How often streams look for a new manifest version. */
  readonly pollMs?: number;
}

export interface ServeRuntime {
  readonly service: ServeService;
  readonly instrumentation: Instrumentation;
  readonly watcher: ManifestWatcher;
  readonly options: ServeRuntimeOptions;
}

export function createServeRuntime(options: ServeRuntimeOptions): ServeRuntime {
  const { config, log } = options;
  const lake = new LakeView(openLake(config));
  const service = new ServeService({
    engine: options.engine,
    visibility: options.policy ? policyVisibility(options.policy) : engineVisibility(options.engine),
    lake,
    rowLimit: config.serve.query.row_limit,
    timeoutMs: config.serve.query.timeout_ms,
    flushIntervalSec: config.flush.interval_sec,
    catalogType: config.catalog.type,
    version: options.version,
  });
  const watcher = new ManifestWatcher(lake, log, options.pollMs);
  configureMetrics({ tableLabels: config.metrics.table_labels });
  const metrics = createServeMetrics({ manifestVersion: () => lake.newestSeenVersion });
  const instrumentation = new Instrumentation(new AuditLog(log.child({ component: 'audit' })), metrics, log);
  return { service, instrumentation, watcher, options };
}

export interface HttpListenOptions {
  /** Override serve.http.host / serve.http.port (0 picks a free port). */
  readonly host?: string;
  readonly port?: number;
}

export interface RunningHttp {
  readonly app: FastifyInstance;
  /** `http://host:port` actually bound. */
  readonly url: string;
}

/** Builds the REST app and listens; refuses a non-loopback address without tokens before binding anything. */
export async function buildHttpApp(runtime: ServeRuntime, host: string): Promise<FastifyInstance> {
  const { config, log, version } = runtime.options;
  const http = config.serve.http;
  assertSafeBinding(host, new TokenAuthenticator(http.tokens));
  return buildApp({
    service: runtime.service,
    instrumentation: runtime.instrumentation,
    watcher: runtime.watcher,
    log,
    version,
    tokens: http.tokens,
    bodyLimitBytes: http.body_limit_bytes,
    rateLimitPerMinute: http.rate_limit_per_minute,
    ...(config.serve.mcp.principal ? { anonymousPrincipal: config.serve.mcp.principal } : {}),
  });
}

export async function listenHttp(runtime: ServeRuntime, options: HttpListenOptions = {}): Promise<RunningHttp> {
  const http = runtime.options.config.serve.http;
  const host = options.host ?? http.host;
  const app = await buildHttpApp(runtime, host);
  await app.listen({ host, port: options.port ?? http.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? http.port);
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  runtime.options.log.info({ url }, 'REST, SSE and MCP (/mcp) listening');
  return { app, url };
}

/** MCP on stdin/stdout for `principal` until the client closes it. */
export function serveMcpStdio(runtime: ServeRuntime, principal: string): Promise<void> {
  return serveStdio({
    service: runtime.service,
    instrumentation: runtime.instrumentation,
    principal,
    version: runtime.options.version,
  });
}
