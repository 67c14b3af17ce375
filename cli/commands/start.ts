import { renameSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { Command } from 'commander';
import type { PgCdcConfig } from '../../core/config/index.js';
import type { Logger } from '../../core/log/index.js';
import type { StreamMetrics } from '../../stream/metrics.js';
import { openStreamService } from '../../stream/service.js';
import { streamStatusFile } from '../../stream/status-file.js';
import { connectClient, connectWorker, resolveTemporal } from '../../workers/connection.js';
import { hostTaskQueue } from '../../workers/host-queue.js';
import { createWorkerPair } from '../../workers/pool.js';
import { loadContext, resolveSourceUrl, type GlobalOptions } from '../context.js';

const STOP_DEADLINE_MS = 90_000;

function writeStatus(path: string, metrics: StreamMetrics, extra: Record<string, unknown>): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify({ ...metrics.snapshot(), ...extra }, null, 2)}\n`);
  renameSync(temp, path);
}

function serveMetrics(config: PgCdcConfig, metrics: () => StreamMetrics | undefined, log: Logger): Server {
  const port = Number(/:(\d+)$/.exec(config.metrics.listen)?.[1]);
  const host = config.metrics.listen.replace(/:\d+$/, '');
  const server = createServer((request, response) => {
    if (request.url === '/metrics') {
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics()?.prometheus() ?? '');
    } else if (request.url === '/healthz') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    } else {
      response.writeHead(404).end();
    }
  });
  server.on('error', (error) =>
    log.warn({ err: error, listen: config.metrics.listen }, 'metrics endpoint not started'),
  );
  server.listen(port, host, () => log.info({ url: `http://${config.metrics.listen}/metrics` }, 'metrics endpoint'));
  return server;
}

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('stream the WAL into the Iceberg tables until SIGINT/SIGTERM (a second signal exits at once)')
    .option('--no-metrics', 'do not serve /metrics on metrics.listen')
    .action(async (options: { metrics: boolean }) => {
      const context = await loadContext(program.opts<GlobalOptions>());
      const { config, log } = context;
      const sourceUrl = await resolveSourceUrl(context);
      const temporal = await resolveTemporal(config.temporal, { stateDir: context.stateDir, log });
      const [client, connection] = await Promise.all([connectClient(temporal), connectWorker(temporal, log)]);
      const statusPath = streamStatusFile(context.stateDir);
      let metrics: StreamMetrics | undefined;
      const metricsServer = options.metrics ? serveMetrics(config, () => metrics, log) : undefined;
      try {
        // The workers and the stream's view of the lake and source are independent: open them side by side, and let
        // both settle before a failure of either is reported (the connections close right after).
        const [created, opened] = await Promise.allSettled([
          createWorkerPair({
            connection,
            namespace: temporal.namespace,
            taskQueue: temporal.taskQueue,
            deps: { config, sourceUrl, log },
          }),
          openStreamService({
            config,
            sourceUrl,
            log,
            client,
            taskQueue: temporal.taskQueue,
            hostTaskQueue: hostTaskQueue(temporal.taskQueue),
            onStatus: (m) => writeStatus(statusPath, m, { slot: config.replication.slot, running: true }),
          }),
        ]);
        if (created.status === 'rejected') throw created.reason;
        if (opened.status === 'rejected') throw opened.reason;
        const [workers, service] = [created.value, opened.value];
        metrics = service.metrics;
        let signals = 0;
        const onSignal = (signal: NodeJS.Signals): void => {
          signals += 1;
          if (signals > 1) {
            log.warn(
              { signal },
              'second signal: exiting now; uncommitted changes will be read again on the next start',
            );
            process.exit(130);
          }
          log.info({ signal }, 'stopping: committing in-flight epochs (send the signal again to exit at once)');
          service.runner.stop();
          // Whatever is still running then (a worker shutdown waiting on a retrying activity) holds nothing that
          // matters: every change read is committed, or unacknowledged and read again by the next start.
          setTimeout(() => {
            log.warn({ afterMs: STOP_DEADLINE_MS }, 'graceful stop took too long; exiting');
            process.exit(0);
          }, STOP_DEADLINE_MS).unref();
        };
        process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
        log.info(
          {
            slot: config.replication.slot,
            tables: service.tables.length,
            protoVersion: service.protoVersion,
            ui: temporal.uiUrl,
          },
          'streaming',
        );
        try {
          await workers.runUntil(() => service.run());
        } finally {
          process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
          writeStatus(statusPath, service.metrics, { slot: config.replication.slot, running: false });
        }
      } finally {
        metricsServer?.close();
        await Promise.all([client.connection.close(), connection.close()]);
        // Everything is committed and acknowledged by now; a driver handle left open must not keep a daemon alive.
        setTimeout(() => process.exit(), 5_000).unref();
      }
    });
}
