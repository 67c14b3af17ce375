import { rename, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { configureMetrics, METRICS_CONTENT_TYPE, renderMetrics } from '../core/metrics/index.js';
import type { MetricsConfig } from '../core/config/index.js';
import type { Logger } from '../core/log/index.js';

/**
 * `/metrics` (and `/healthz`) of a process without an HTTP API of its own: `start` on `metrics.listen`, `worker` on
 * `--metrics-listen`. It renders the process registry (core/metrics); `serve` renders the same registry through
 * its REST app instead.
 */
export function serveMetrics(listen: string, settings: MetricsConfig, log: Logger): Server {
  configureMetrics({ tableLabels: settings.table_labels });
  const port = Number(/:(\d+)$/.exec(listen)?.[1]);
  const host = listen.replace(/:\d+$/, '');
  const server = createServer((request, response) => {
    if (request.url === '/metrics') {
      renderMetrics().then(
        (text) => response.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(text),
        (error: unknown) => {
          log.warn({ err: error }, 'metrics could not be rendered');
          response.writeHead(500).end();
        },
      );
    } else if (request.url === '/healthz') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    } else {
      response.writeHead(404).end();
    }
  });
  server.on('error', (error) => log.warn({ err: error, listen }, 'metrics endpoint not started'));
  server.listen(port, host, () => log.info({ url: `http://${listen}/metrics` }, 'metrics endpoint'));
  return server;
}

/**
 * Writes the process registry to `path` in the text format, atomically (a temporary file renamed over it): how a
 * one-shot command (`pg-cdc catalog register --metrics-file`) hands its figures to node_exporter's textfile
 * collector, which serves them on its own /metrics.
 */
export async function writeMetricsFile(path: string): Promise<void> {
  const partial = `${path}.${process.pid}.tmp`;
  await writeFile(partial, await renderMetrics());
  await rename(partial, path);
}
