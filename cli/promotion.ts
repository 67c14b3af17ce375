import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { PgCdcConfig } from '../core/config/index.js';
import { PgCdcError } from '../core/errors/index.js';
import type { Logger } from '../core/log/index.js';
import { searchAttributesOf, workflowIds } from '../core/temporal/index.js';
import { openLake } from '../lake/open.js';
import { promotionStateQuery, type PromotionInput } from '../workflows/promotion-messages.js';
import type { promotionWorkflow } from '../workflows/promotion.js';

/** The database the lake replicates, from its manifest: the promotion workflow is one per lake. */
export async function lakeDatabase(config: PgCdcConfig): Promise<string> {
  const manifest = (await openLake(config).manifest.read())?.value;
  if (!manifest) {
    throw new PgCdcError('LAKE_EMPTY', 'the lake holds no tables to promote', { hint: 'run `pg-cdc init` first' });
  }
  return manifest.source.database;
}

/** Checks (auto mode's promotion, the pending diff) come every flush interval, and no more often than this. */
const MIN_CHECK_INTERVAL_MS = 5_000;

export function promotionInput(config: PgCdcConfig, database: string): PromotionInput {
  const checkIntervalMs = Math.max(MIN_CHECK_INTERVAL_MS, Math.round(config.flush.interval_sec * 1000));
  return { database, mode: config.promotion.mode, checkIntervalMs };
}

/**
 * Starts `promote:<db>` in the configured mode, or joins the running one. A running one in the other mode (the
 * configuration changed) is replaced: its mode is its input, fixed for the run.
 */
export async function ensurePromotionWorkflow(options: {
  client: Client;
  config: PgCdcConfig;
  taskQueue: string;
  log: Logger;
}): Promise<WorkflowHandle<typeof promotionWorkflow>> {
  const { client, config, log } = options;
  const input = promotionInput(config, await lakeDatabase(config));
  const workflowId = workflowIds.promotion(input.database);
  const start = (conflict: 'USE_EXISTING' | 'TERMINATE_EXISTING') =>
    client.workflow.start<typeof promotionWorkflow>('promotionWorkflow', {
      workflowId,
      taskQueue: options.taskQueue,
      args: [input],
      workflowIdConflictPolicy: conflict,
      typedSearchAttributes: searchAttributesOf({ kind: 'promotion' }),
    });
  const handle = await start('USE_EXISTING').catch((error: unknown) => {
    if (error instanceof WorkflowExecutionAlreadyStartedError) return client.workflow.getHandle(workflowId);
    throw error;
  });
  const mode = await handle.query(promotionStateQuery).then(
    (state) => state.mode,
    (error: unknown) => {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw error;
    },
  );
  if (mode !== undefined && mode !== input.mode) {
    log.info({ workflowId, from: mode, to: input.mode }, 'promotion mode changed: the workflow starts over');
    return start('TERMINATE_EXISTING');
  }
  log.debug({ workflowId, mode: input.mode }, 'promotion workflow running');
  return handle;
}
