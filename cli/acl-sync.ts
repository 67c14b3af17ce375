import { ScheduleAlreadyRunning, type Client } from '@temporalio/client';
import type { Logger } from '../core/log/index.js';
import { scheduleIds, searchAttributesOf, workflowIds } from '../core/temporal/index.js';
import type { aclSyncWorkflow } from '../workflows/acl-sync.js';

/** How often the scheduled aclSyncWorkflow heals drift, unless an operator changed the schedule since. */
export const ACL_SYNC_EVERY = '15m';

/**
 * The Temporal Schedule `acl-sync:<db>` that runs aclSyncWorkflow every ACL_SYNC_EVERY (`pg-cdc start` with
 * `governance.catalog: glue`, and `pg-cdc acl sync --schedule`). Created once: an existing schedule is left as an
 * operator set it (paused, another interval), as Temporal's UI and `temporal schedule` change it.
 */
export async function ensureAclSyncSchedule(options: {
  client: Client;
  taskQueue: string;
  database: string;
  log: Logger;
}): Promise<'created' | 'exists'> {
  const { client, taskQueue, database, log } = options;
  const scheduleId = scheduleIds.aclSync(database);
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: ACL_SYNC_EVERY }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'aclSyncWorkflow',
        // The schedule adds the start time to this id: `acl-sync:<db>-<time>`.
        workflowId: workflowIds.aclSync(database),
        taskQueue,
        args: [{}] as Parameters<typeof aclSyncWorkflow>,
        typedSearchAttributes: searchAttributesOf({ kind: 'acl-sync' }),
      },
      // A run still going when the next is due is not doubled.
      policies: { overlap: 'SKIP' },
    });
    log.info({ scheduleId, every: ACL_SYNC_EVERY }, 'acl sync schedule created');
    return 'created';
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    return 'exists';
  }
}
