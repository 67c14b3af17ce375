import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { workflowIds } from '../core/temporal/index.js';
import type { EpochCommit } from '../lake/state/types.js';
import { commitEpochUpdate, stateQuery } from '../workflows/table-messages.js';
import type { tableActorWorkflow } from '../workflows/table-actor.js';
import type { EpochSink } from './committer.js';
import type { TableRoute } from './routes.js';
import type { TableStart } from './setup.js';
import type { SealedEpoch } from './spool.js';

/**
 * Sealed epochs go to each table's TableActor as a `commitEpoch` Update whose id is `flush:<table>:<epoch>`: a
 * resend after a crash or a lost reply attaches to the same update instead of committing twice.
 */
export class ActorSink implements EpochSink {
  private readonly spoolDirs = new Map<string, string>();

  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly hostTaskQueue: string,
  ) {}

  /**
   * Starts each table's actor unless it is running already (then it keeps its own view of the table). An actor
   * that is ahead of the lake belongs to a lake that was torn down and snapshotted again: it is replaced. Epochs
   * are handed over only once this has settled (see DeferredSink).
   */
  async ensureActors(tables: readonly TableStart[]): Promise<void> {
    for (const table of tables) this.spoolDirs.set(table.table, table.spoolDir);
    // Independent per table; after a crash each may first wait out the dead worker's sticky queue.
    await Promise.all(tables.map((table) => this.startActor(table)));
  }

  private async startActor(table: TableStart): Promise<void> {
    const handle = this.client.workflow.getHandle(workflowIds.table(table.table));
    const running = await handle
      .describe()
      .then((d) => d.status.name === 'RUNNING')
      .catch(() => false);
    if (running) {
      const state = await handle.query(stateQuery).catch(() => undefined);
      if (state && state.epoch > table.epoch) {
        await handle.terminate(`the lake is at epoch ${table.epoch}, the actor at ${state.epoch}: a new snapshot`);
      }
    }
    try {
      await this.client.workflow.start<typeof tableActorWorkflow>('tableActorWorkflow', {
        workflowId: workflowIds.table(table.table),
        taskQueue: this.taskQueue,
        args: [
          {
            table: table.table,
            epoch: table.epoch,
            committedLsn: table.committedLsn,
            schemaVersion: table.schemaVersion,
          },
        ],
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
  }

  async commit(route: TableRoute, sealed: SealedEpoch): Promise<EpochCommit> {
    const handle = this.client.workflow.getHandle(workflowIds.table(route.table));
    return handle.executeUpdate(commitEpochUpdate, {
      args: [
        {
          table: route.table,
          epoch: sealed.batch.epoch,
          spoolDir: this.spoolDirs.get(route.table)!,
          hostTaskQueue: this.hostTaskQueue,
        },
      ],
      updateId: workflowIds.flush(route.table, sealed.batch.epoch),
    });
  }
}
