import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { renderMetrics } from '../core/metrics/index.js';

/**
 * The serve process's own families, on a registry of the server's, rendered together with the process registry
 * of core/metrics (sink, storage, process). Every name starts with `pgcdc_serve_`. Label values never carry table
 * names or principals: /metrics is open without authentication.
 */
export function createServeMetrics(collect: { manifestVersion: () => number | undefined }) {
  const registry = new Registry();
  const registers = [registry];
  const started = Date.now();
  const metrics = {
    requests: new Counter({
      name: 'pgcdc_serve_requests_total',
      help: 'Requests by front door (http, mcp), action and outcome.',
      labelNames: ['door', 'action', 'outcome'],
      registers,
    }),
    duration: new Histogram({
      name: 'pgcdc_serve_request_duration_seconds',
      help: 'Time to answer a request, by front door and action.',
      labelNames: ['door', 'action'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    rows: new Counter({
      name: 'pgcdc_serve_rows_returned_total',
      help: 'Rows returned by query and changes.',
      labelNames: ['door'],
      registers,
    }),
    authFailures: new Counter({
      name: 'pgcdc_serve_auth_failures_total',
      help: 'Requests refused for a missing or unknown token.',
      labelNames: ['reason'],
      registers,
    }),
    rateLimited: new Counter({
      name: 'pgcdc_serve_rate_limited_total',
      help: 'Requests refused by the per-principal rate limit.',
      registers,
    }),
    sseClients: new Gauge({
      name: 'pgcdc_serve_sse_clients',
      help: 'Open SSE streams, by stream.',
      labelNames: ['stream'],
      registers,
    }),
  };
  new Gauge({
    name: 'pgcdc_serve_manifest_version',
    help: 'Newest manifest version the server has seen.',
    registers,
    collect() {
      const version = collect.manifestVersion();
      if (version === undefined) this.reset();
      else this.set(version);
    },
  });
  new Gauge({
    name: 'pgcdc_serve_uptime_seconds',
    help: 'Seconds since the server started.',
    registers,
    collect() {
      this.set((Date.now() - started) / 1000);
    },
  });
  return { ...metrics, registry, render: () => renderMetrics(registry) };
}

export type ServeMetrics = ReturnType<typeof createServeMetrics>;
