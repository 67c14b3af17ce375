import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { NON_RETRYABLE_CODES } from '../core/errors/catalog.js';
import type { PreflightReport } from '../source/preflight.js';

const { preflight } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: {
    initialInterval: '1s',
    maximumInterval: '30s',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [...NON_RETRYABLE_CODES],
  },
});

/**
 * Checks the source is ready for logical replication, as a workflow step: the first step of the snapshot and the
 * smallest end-to-end proof that a worker, its activities and the Temporal server work together.
 */
export async function preflightWorkflow(): Promise<PreflightReport> {
  return preflight();
}
