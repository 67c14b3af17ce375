import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { searchAttributesOf, workflowIds } from '../../core/temporal/index.js';
import { clientOver, connectWorker, resolveTemporal } from '../../workers/connection.js';
import { createWorkerPair } from '../../workers/pool.js';
import { progressQuery } from '../../workflows/snapshot-messages.js';
import type { snapshotWorkflow } from '../../workflows/snapshot.js';
import { ensureCompactionSchedules } from '../compaction.js';
import { withRun } from '../runs/with-run.js';
import { loadContext, resolveSourceUrl, type GlobalOptions } from '../context.js';
import { ProgressDisplay } from '../progress.js';
import { rowsInFlight, toItems } from '../snapshot-progress.js';

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('snapshot the selected tables into Iceberg at one consistent point (the replication slot)')
    .option('--json', 'print the result as JSON')
    .action(async (options: { json?: boolean }) => {
      const context = await loadContext(program.opts<GlobalOptions>());
      await withRun(context, 'init', process.argv.slice(2), async (run) => {
        const { config, log } = context;
        const temporal = await resolveTemporal(config.temporal, { stateDir: context.stateDir, log });
        const sourceUrl = await resolveSourceUrl(context);
        const connection = await connectWorker(temporal, log);
        const client = clientOver(connection, temporal);
        try {
          const workers = await createWorkerPair({
            connection,
            namespace: temporal.namespace,
            taskQueue: temporal.taskQueue,
            deps: { config, sourceUrl, log },
            // One workflow, a few dozen workflow tasks: not worth a thread that takes 0.3 s to load.
            workflowsOnMainThread: true,
          });
          const workflowId = workflowIds.snapshot(config.replication.slot);
          const result = await workers.runUntil(async () => {
            const handle = await client.workflow.start<typeof snapshotWorkflow>('snapshotWorkflow', {
              workflowId,
              taskQueue: temporal.taskQueue,
              args: [
                {
                  slot: config.replication.slot,
                  hostTaskQueue: workers.hostTaskQueue,
                  parallelWorkers: config.init.parallel_workers,
                },
              ],
              // A snapshot still running (an earlier `init` that was interrupted) is joined, not started twice.
              workflowIdConflictPolicy: 'USE_EXISTING',
              typedSearchAttributes: searchAttributesOf({ kind: 'snapshot', slot: config.replication.slot }),
            });
            log.info({ workflowId, ui: temporal.uiUrl }, 'snapshot workflow started');
            run.event('workflow.started', { workflow_id: workflowId, ui: temporal.uiUrl ?? null });
            const display = new ProgressDisplay(process.stderr, log);
            let finished = false;
            const outcome = handle.result().finally(() => (finished = true));
            // Handled here at once: a workflow can fail while the first progress query is still in flight.
            const settled = outcome.catch(() => undefined);
            // Each query is a round trip through the server and a workflow task: asked only when it can be shown.
            // Finished chunks are counted by the workflow, running ones by their heartbeats: a table copied in one
            // round of chunks would otherwise show no progress until it is done.
            while (!finished) {
              const [progress, inFlight] = await Promise.all([
                handle.query(progressQuery).catch(() => undefined),
                handle.describe().then(
                  ({ raw }) => rowsInFlight(raw.pendingActivities ?? []),
                  () => new Map<string, number>(),
                ),
              ]);
              if (progress) {
                const items = toItems(progress, inFlight);
                display.update(items);
                run.state({ workflow_id: workflowId, tables: items });
              }
              await Promise.race([settled, sleep(display.nextUpdateInMs())]);
            }
            const snapshot = await outcome;
            for (const table of snapshot.tables) {
              run.event('snapshot.table', {
                table: table.table,
                rows: table.rows,
                files: table.files,
                snapshot_id: table.snapshotId,
              });
            }
            run.event('snapshot.completed', { slot: snapshot.slot, consistent_point: snapshot.consistentPoint });
            // Each table gets its compaction schedule as soon as it is in the lake.
            await ensureCompactionSchedules({
              client,
              config,
              taskQueue: temporal.taskQueue,
              tables: snapshot.tables.map((t) => t.table),
              log,
            });
            return snapshot;
          });
          if (options.json) {
            process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
          } else {
            process.stdout.write(`snapshot complete at LSN ${result.consistentPoint} (slot ${result.slot})\n`);
            for (const table of result.tables) {
              process.stdout.write(
                `  ${table.table}: ${table.rows} rows in ${table.files} file(s), snapshot ${table.snapshotId}\n`,
              );
            }
            if (temporal.uiUrl) {
              process.stdout.write(
                `history: ${temporal.uiUrl}/namespaces/${temporal.namespace}/workflows/${workflowId}\n`,
              );
            }
          }
        } finally {
          await connection.close();
        }
      });
    });
}
