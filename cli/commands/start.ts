import type { Command } from 'commander';
import { StatusFileWriter, streamStatusFile } from '../../stream/status-file.js';
import { recordStream } from '../runs/stream-events.js';
import { withRun } from '../runs/with-run.js';
import { loadContext, resolveSourceUrl, type GlobalOptions } from '../context.js';
import { serveMetrics } from '../metrics-endpoint.js';
import { openStreamProcess } from '../stream-process.js';

/** SIGTERM to exit: the graceful stop never takes longer (docs/streaming.md; deploy/ sizes its stop timeouts on it). */
export const STOP_DEADLINE_MS = 90_000;

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('stream the WAL into the Iceberg tables until SIGINT/SIGTERM (a second signal exits at once)')
    .option('--no-metrics', 'do not serve /metrics on metrics.listen')
    .action(async (options: { metrics: boolean }) => {
      const context = await loadContext(program.opts<GlobalOptions>());
      await withRun(context, 'start', process.argv.slice(2), async (run) => {
        const { config, log } = context;
        const sourceUrl = await resolveSourceUrl(context);
        const status = new StatusFileWriter(streamStatusFile(context.stateDir), log);
        const { slot } = config.replication;
        const artifacts = recordStream(run);
        const stream = await openStreamProcess({
          config,
          stateDir: context.stateDir,
          sourceUrl,
          log,
          onStatus: (metrics) => {
            status.update({ ...metrics.snapshot(), slot, running: true });
            artifacts.observe(metrics);
          },
        });
        const { service } = stream;
        const metricsServer = options.metrics ? serveMetrics(config.metrics.listen, config.metrics, log) : undefined;
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
          stream.stop();
          // Whatever is still running then (a worker shutdown waiting on a retrying activity) holds nothing that
          // matters: every change read is committed, or unacknowledged and read again by the next start.
          setTimeout(() => {
            log.warn({ afterMs: STOP_DEADLINE_MS }, 'graceful stop took too long; exiting');
            process.exit(0);
          }, STOP_DEADLINE_MS).unref();
        };
        process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
        try {
          // A host that failed aborted the stream with its error: `streaming` reports it.
          const host = await stream.host.catch(() => undefined);
          if (host) {
            log.info(
              { slot, tables: service.tables.length, protoVersion: service.protoVersion, ui: host.temporal.uiUrl },
              'streaming',
            );
          }
          await stream.streaming;
        } finally {
          process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
          await status.final({ ...service.metrics.snapshot(), slot, running: false });
          artifacts.final(service.metrics);
          metricsServer?.close();
          await stream.close();
          // Everything is committed and acknowledged by now; a driver handle left open must not keep a daemon alive.
          setTimeout(() => process.exit(), 5_000).unref();
        }
      });
    });
}
