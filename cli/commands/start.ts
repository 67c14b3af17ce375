import { createServer, type Server } from 'node:http';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Command } from 'commander';
import type { PgCdcConfig } from '../../core/config/index.js';
import type { Logger } from '../../core/log/index.js';
import { DeferredSink } from '../../stream/deferred-sink.js';
import type { StreamMetrics } from '../../stream/metrics.js';
import { openStreamService } from '../../stream/service.js';
import type { TableStart } from '../../stream/setup.js';
import { StatusFileWriter, streamStatusFile } from '../../stream/status-file.js';
import type { StreamHost } from '../../workers/stream-host.js';
import { loadContext, resolveSourceUrl, type CommandContext, type GlobalOptions } from '../context.js';

const STOP_DEADLINE_MS = 90_000;

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

/**
 * The Temporal side: its packages are most of start-up (about a second of one core), so they load while the WAL is
 * already being read, and one at a time, so that the read loop gets the event loop between them.
 */
async function openHost(
  context: CommandContext,
  sourceUrl: string,
  tables: readonly TableStart[],
  onWorkerFailure: (error: unknown) => void,
): Promise<StreamHost> {
  for (const load of [
    () => import('@temporalio/client'),
    () => import('@temporalio/worker'),
    () => import('@duckdb/node-api'),
  ]) {
    await load();
    await nextTurn();
  }
  const { openStreamHost } = await import('../../workers/stream-host.js');
  return openStreamHost({
    config: context.config,
    stateDir: context.stateDir,
    sourceUrl,
    log: context.log,
    tables,
    onWorkerFailure,
  });
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
      const status = new StatusFileWriter(streamStatusFile(context.stateDir), log);
      const { slot } = config.replication;
      const sink = new DeferredSink();
      const service = await openStreamService({
        config,
        sourceUrl,
        log,
        sink,
        onStatus: (metrics) => status.update({ ...metrics.snapshot(), slot, running: true }),
      });
      const metricsServer = options.metrics ? serveMetrics(config, () => service.metrics, log) : undefined;
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals): void => {
        signals += 1;
        if (signals > 1) {
          log.warn({ signal }, 'second signal: exiting now; uncommitted changes will be read again on the next start');
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
      // Replication starts now; epochs sealed before the table actors run wait for them in the sink.
      const opening = openHost(context, sourceUrl, service.tables, (error) => service.runner.abort(error));
      const hostReady = sink.attachWhen(opening.then((host) => host.sink));
      const streaming = service.run(hostReady);
      let host: StreamHost | undefined;
      try {
        try {
          host = await opening;
        } catch {
          // The stream was aborted with the host's error (or ended with its own): that is what is reported.
          await streaming;
          return;
        }
        log.info(
          {
            slot: config.replication.slot,
            tables: service.tables.length,
            protoVersion: service.protoVersion,
            ui: host.temporal.uiUrl,
          },
          'streaming',
        );
        await streaming;
      } finally {
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
        await status.final({ ...service.metrics.snapshot(), slot, running: false });
        metricsServer?.close();
        await host?.close();
        // Everything is committed and acknowledged by now; a driver handle left open must not keep a daemon alive.
        setTimeout(() => process.exit(), 5_000).unref();
      }
    });
}
