import type { Command } from 'commander';
import { connectWorker, resolveTemporal } from '../../workers/connection.js';
import { createWorkerPair } from '../../workers/pool.js';
import { serveMetrics } from '../metrics-endpoint.js';
import { loadContext, resolveSourceUrl, type GlobalOptions } from '../context.js';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run a Temporal worker for pg-cdc workflows and activities until SIGINT/SIGTERM')
    .option('--metrics-listen <host:port>', 'serve Prometheus /metrics (snapshot chunks, compaction, the sink) here')
    .action(async (options: { metricsListen?: string }) => {
      const context = await loadContext(program.opts<GlobalOptions>());
      const temporal = await resolveTemporal(context.config.temporal, { stateDir: context.stateDir, log: context.log });
      const sourceUrl = await resolveSourceUrl(context);
      const connection = await connectWorker(temporal, context.log);
      const metricsServer = options.metricsListen
        ? serveMetrics(options.metricsListen, context.config.metrics, context.log)
        : undefined;
      try {
        const workers = await createWorkerPair({
          connection,
          namespace: temporal.namespace,
          taskQueue: temporal.taskQueue,
          deps: { config: context.config, sourceUrl, log: context.log },
        });
        process.once('SIGINT', workers.shutdown).once('SIGTERM', workers.shutdown);
        context.log.info(
          {
            address: temporal.address,
            taskQueue: workers.taskQueue,
            hostTaskQueue: workers.hostTaskQueue,
            ui: temporal.uiUrl,
          },
          'worker running',
        );
        await workers.run();
      } finally {
        metricsServer?.close();
        await connection.close();
      }
    });
}
