import type { Command } from 'commander';
import { createActivities } from '../../activities/index.js';
import { connectWorker, resolveTemporal } from '../../workers/connection.js';
import { createWorker } from '../../workers/worker.js';
import { loadContext, resolveSourceUrl, type GlobalOptions } from '../context.js';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run a Temporal worker for pg-cdc workflows and activities until SIGINT/SIGTERM')
    .action(async () => {
      const context = await loadContext(program.opts<GlobalOptions>());
      const temporal = await resolveTemporal(context.config.temporal, { stateDir: context.stateDir, log: context.log });
      const sourceUrl = await resolveSourceUrl(context);
      const connection = await connectWorker(temporal, context.log);
      const worker = await createWorker({
        connection,
        namespace: temporal.namespace,
        taskQueue: temporal.taskQueue,
        activities: createActivities({ config: context.config, sourceUrl, log: context.log }),
        log: context.log,
      });
      const stop = (): void => worker.shutdown();
      process.once('SIGINT', stop).once('SIGTERM', stop);
      context.log.info(
        { address: temporal.address, namespace: temporal.namespace, taskQueue: temporal.taskQueue, ui: temporal.uiUrl },
        'worker running',
      );
      try {
        await worker.run();
      } finally {
        await connection.close();
      }
    });
}
