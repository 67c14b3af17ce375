import type { PgCdcConfig } from '../core/config/index.js';
import type { Logger } from '../core/log/index.js';
import { describeTarget } from '../source/connection.js';
import { lazyLake } from '../activities/index.js';
import { searchAttributesOf, workflowIds } from '../core/temporal/index.js';
import { ActorSink } from '../stream/actors.js';
import type { TableOnboarding } from '../stream/late-tables.js';
import type { snapshotTableWorkflow } from '../workflows/snapshot-table.js';
import { ensureAclSyncSchedule } from './acl-sync.js';
import { ensureCompactionSchedules } from './compaction.js';
import { ensurePromotionWorkflow } from './promotion.js';
import { prepareStreamLocators } from '../stream/locators.js';
import type { TableStart } from '../stream/setup.js';
import { clientOver, connectWorker, resolveTemporal, type TemporalEndpoint } from '../workers/connection.js';
import { createWorkerPair, type WorkerPair } from '../workers/pool.js';

/**
 * The Temporal side of the stream worker (`pg-cdc start`, the demo's stream): its connections, the running worker
 * pair and the running table actors.
 */
export interface StreamHost {
  readonly temporal: TemporalEndpoint;
  /** Hands sealed epochs to the table actors. */
  readonly sink: ActorSink;
  /** Snapshots and starts a table that joins while streaming. */
  readonly onboarding: TableOnboarding;
  /** Shuts the workers down (in-flight tasks finish) and closes the connections. */
  close(): Promise<void>;
}

/**
 * Connects to Temporal (starting the embedded dev server when configured), starts the workers, then each table's
 * actor (an actor already running answers its state query through these workers), the compaction schedules and
 * the promotion workflow. A worker failing later is reported to `onWorkerFailure`. On a failure here, whatever was opened is closed before the error is rethrown.
 */
export async function openStreamHost(options: {
  config: PgCdcConfig;
  stateDir: string;
  sourceUrl: string;
  log: Logger;
  tables: readonly TableStart[];
  onWorkerFailure: (error: unknown) => void;
}): Promise<StreamHost> {
  const { config, log } = options;
  const temporal = await resolveTemporal(config.temporal, { stateDir: options.stateDir, log });
  // The process's signal handler stops the stream first, and the workers only after its last epochs committed.
  const connection = await connectWorker(temporal, log, { ownSignals: true });
  const client = clientOver(connection, temporal);
  const closeFailed = (error: unknown): void => log.warn({ err: error }, 'closing a Temporal connection');
  const closeConnections = (): Promise<void> => connection.close();
  const lake = lazyLake(config, log);
  let workers: WorkerPair;
  try {
    workers = await createWorkerPair({
      connection,
      namespace: temporal.namespace,
      taskQueue: temporal.taskQueue,
      deps: { config, sourceUrl: options.sourceUrl, log, lake },
    });
  } catch (error) {
    await closeConnections().catch(closeFailed);
    throw error;
  }
  let stopping = false;
  const running = workers.run().catch((error: unknown) => {
    if (!stopping) options.onWorkerFailure(error);
    else log.warn({ err: error }, 'a worker failed while shutting down');
  });
  // Beside the actors' start: a locator built now is one the first epoch does not wait for.
  const preparing = new AbortController();
  const locatorsPrepared = prepareStreamLocators(lake, options.tables, log, preparing.signal);
  const close = async (): Promise<void> => {
    stopping = true;
    preparing.abort();
    await locatorsPrepared;
    workers.shutdown();
    await running;
    await closeConnections();
  };
  try {
    const sink = new ActorSink(client, temporal.taskQueue, workers.hostTaskQueue, config.replication.slot);
    await sink.ensureActors(options.tables);
    await ensureCompactionSchedules({
      client,
      config,
      taskQueue: temporal.taskQueue,
      tables: options.tables.map((t) => t.table),
      log,
    });
    if (config.governance.catalog === 'glue') {
      const { database } = describeTarget(options.sourceUrl);
      await ensureAclSyncSchedule({ client, taskQueue: temporal.taskQueue, database, log });
    }
    const onboarding: TableOnboarding = {
      snapshotTable: (input) =>
        client.workflow.execute<typeof snapshotTableWorkflow>('snapshotTableWorkflow', {
          workflowId: workflowIds.snapshotTable(input.table.identifier),
          taskQueue: temporal.taskQueue,
          args: [input],
          // A run left by a crashed start copied under a snapshot that is gone: it is replaced.
          workflowIdConflictPolicy: 'TERMINATE_EXISTING',
          typedSearchAttributes: searchAttributesOf({
            kind: 'snapshot',
            table: input.table.identifier,
            slot: config.replication.slot,
          }),
        }),
      startTable: async (table) => {
        await sink.ensureActors([table]);
        await ensureCompactionSchedules({ client, config, taskQueue: temporal.taskQueue, tables: [table.table], log });
      },
    };
    await ensurePromotionWorkflow({ client, config, taskQueue: temporal.taskQueue, log });
    return { temporal, sink, onboarding, close };
  } catch (error) {
    await close().catch(closeFailed);
    throw error;
  }
}
