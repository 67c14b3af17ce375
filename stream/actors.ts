import { hostname } from 'node:os';
import { WorkflowExecutionAlreadyStartedError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { formatLsn } from '../core/lsn/index.js';
import { searchAttributesOf, workflowIds } from '../core/temporal/index.js';
import type { EpochCommit } from '../lake/state/types.js';
import { commitEpochUpdate, stateQuery } from '../workflows/table-messages.js';
import type { tableActorWorkflow } from '../workflows/table-actor.js';
import type { EpochSink } from './committer.js';
import type { TableRoute } from './routes.js';
import type { TableStart } from './setup.js';
import type { SealedEpoch } from './spool.js';

/**
 * Sealed epochs go to each table's TableActor as a `commitEpoch` Update whose id is `flush:<table>:<epoch>:<sender>`:
 * a resend after a lost reply attaches to the same update instead of committing twice. The sender is this process
 * (host and start time), so a stream worker that starts again (after a crash, a fix, on another host) sends its
 * own update, which waits for any earlier one of the same epoch in the actor and then finds it committed. A failed
 * update keeps its outcome under its id: the next resend of that epoch takes a new one.
 */
export class ActorSink implements EpochSink {
  private readonly spoolDirs = new Map<string, string>();
  private readonly sender = `${hostname()}-${Date.now().toString(36)}`;
  /** Per table and epoch: how many of its updates failed in this process. */
  private readonly failedUpdates = new Map<string, number>();

  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly hostTaskQueue: string,
    /** The replication slot the actors' epochs come from: a search attribute of each actor. */
    private readonly slot: string,
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
        typedSearchAttributes: searchAttributesOf({ kind: 'table', table: table.table, slot: this.slot }),
      });
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
  }

  async commit(route: TableRoute, sealed: SealedEpoch): Promise<EpochCommit> {
    const handle = this.client.workflow.getHandle(workflowIds.table(route.table));
    const { epoch } = sealed.batch;
    const key = `${route.table}:${epoch}`;
    const failed = this.failedUpdates.get(key) ?? 0;
    try {
      const result = await handle.executeUpdate(commitEpochUpdate, {
        args: [
          {
            table: route.table,
            epoch,
            spoolDir: this.spoolDirs.get(route.table)!,
            hostTaskQueue: this.hostTaskQueue,
            firstLsn: formatLsn(sealed.firstCommitLsn),
            lastLsn: formatLsn(sealed.lastCommitLsn),
          },
        ],
        updateId: workflowIds.flush(route.table, epoch, failed === 0 ? this.sender : `${this.sender}.${failed}`),
      });
      this.failedUpdates.delete(key);
      return result;
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError) this.failedUpdates.set(key, failed + 1);
      throw error;
    }
  }
}
