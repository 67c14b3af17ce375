import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { isErrorCode, isRetryableCode, NON_RETRYABLE_CODES, type ErrorCode } from '../core/errors/catalog.js';
import type { MaintenanceRequest, MaintenanceResult } from '../lake/compaction/maintain.js';
import type { EpochCommit } from '../lake/state/types.js';
import { maintainUpdate } from './compaction-messages.js';
import {
  commitEpochUpdate,
  stateQuery,
  type EpochFailure,
  type EpochRequest,
  type TableActorInput,
  type TableActorState,
} from './table-messages.js';

/** Epochs per run before continuing as new: keeps the history small (one update and one activity per epoch). */
const EPOCHS_PER_RUN = 200;

/**
 * The epoch runs on the queue of the host whose spool holds it. Passing faults are retried with back-off; a code the
 * catalog calls permanent or bad input is not (the update fails and the actor's state shows it). If that host is
 * gone (a container back under another hostname), nothing polls its queue: an attempt waiting there fails after
 * the schedule-to-start timeout (never retried: it would wait in the same queue), the whole commit after the
 * schedule-to-close timeout, and the stream worker on the new host commits the epoch through its own queue.
 * Activity options are not part of the replayed commands: changing them needs no `patched()`.
 */
const epochActivities = (hostTaskQueue: string) =>
  proxyActivities<Activities>({
    taskQueue: hostTaskQueue,
    scheduleToStartTimeout: '2 minutes',
    startToCloseTimeout: '1 hour',
    scheduleToCloseTimeout: '2 hours',
    heartbeatTimeout: '20 seconds',
    retry: { initialInterval: '1s', maximumInterval: '30s', nonRetryableErrorTypes: [...NON_RETRYABLE_CODES] },
  });

// After a compaction, on the stream's host: a locator it cannot refresh now is rebuilt by the table's next epoch.
const locatorActivities = (hostTaskQueue: string) =>
  proxyActivities<Activities>({
    taskQueue: hostTaskQueue,
    scheduleToStartTimeout: '30 seconds',
    startToCloseTimeout: '10 minutes',
    retry: { maximumAttempts: 2, nonRetryableErrorTypes: [...NON_RETRYABLE_CODES] },
  });

/** What the state query shows of a failed commit: the activity's error code, message and hint, or its timeout. */
function epochFailure(request: EpochRequest, error: unknown): EpochFailure {
  let failure: ApplicationFailure | undefined;
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e instanceof ApplicationFailure && e.type && isErrorCode(e.type)) {
      failure = e;
      break;
    }
  }
  const code: ErrorCode = failure?.type && isErrorCode(failure.type) ? failure.type : 'EPOCH_COMMIT_FAILED';
  const details = failure?.details?.[0] as { hint?: string } | undefined;
  const message =
    failure?.message ??
    (error instanceof ActivityFailure && error.cause ? error.cause.message : String((error as Error).message));
  return {
    epoch: request.epoch,
    code,
    message,
    ...(details?.hint ? { hint: details.hint } : {}),
    retryable: isRetryableCode(code),
    ...(request.firstLsn ? { firstLsn: request.firstLsn } : {}),
    ...(request.lastLsn ? { lastLsn: request.lastLsn } : {}),
    at: new Date().toISOString(),
  };
}

// A compaction's commit: rewritten files swapped in, old snapshots expired. Any worker that reaches the lake.
const maintenanceActivities = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: {
    initialInterval: '1s',
    maximumInterval: '30s',
    maximumAttempts: 10,
    nonRetryableErrorTypes: [...NON_RETRYABLE_CODES],
  },
});

/**
 * TableActor `table:<schema>.<table>`: the single writer of one table's Iceberg state and changelog. Epochs arrive
 * as `commitEpoch` Updates and commit strictly in order, one at a time; a resent epoch that is already in the lake
 * returns its result again without writing anything. A failed commit fails its update and stays in the `state`
 * query (`failure`) until the epoch commits.
 */
export async function tableActorWorkflow(input: TableActorInput): Promise<void> {
  let state: TableActorState = { ...input, epochsThisRun: 0 };
  let committing = false;
  /** Where this run's last epoch committed: the host whose locator a compaction should refresh. */
  let lastRoute: { readonly hostTaskQueue: string; readonly spoolDir: string } | undefined;

  setHandler(stateQuery, () => state);
  setHandler(
    commitEpochUpdate,
    async (request: EpochRequest): Promise<EpochCommit> => {
      await condition(() => !committing && (request.epoch <= state.epoch || request.epoch === state.epoch + 1));
      if (request.epoch <= state.epoch && state.lastCommit?.epoch === request.epoch) {
        return { ...state.lastCommit, committed: false };
      }
      committing = true;
      try {
        // An already-committed epoch (this run's predecessor committed it) is recognised by the activity, which
        // reads the lake: nothing is written twice.
        const result = await epochActivities(request.hostTaskQueue).commitEpoch(request);
        lastRoute = { hostTaskQueue: request.hostTaskQueue, spoolDir: request.spoolDir };
        if (result.epoch > state.epoch) {
          const { failure: _cleared, ...rest } = state;
          state = {
            ...rest,
            epoch: result.epoch,
            committedLsn: result.committedLsn,
            epochsThisRun: state.epochsThisRun + 1,
            lastCommit: result,
          };
        }
        return result;
      } catch (error) {
        const failure = epochFailure(request, error);
        state = { ...state, failure };
        log.error('epoch commit failed', { table: input.table, ...failure });
        throw error;
      } finally {
        committing = false;
      }
    },
    {
      validator: (request: EpochRequest) => {
        if (request.table !== input.table) {
          throw ApplicationFailure.nonRetryable(`epoch for ${request.table} sent to the actor of ${input.table}`);
        }
        if (!Number.isSafeInteger(request.epoch) || request.epoch < 1) {
          throw ApplicationFailure.nonRetryable(`epoch must be an integer >= 1, got ${request.epoch}`);
        }
        if (request.epoch > state.epoch + 1 + EPOCHS_PER_RUN) {
          throw ApplicationFailure.nonRetryable(`epoch ${request.epoch} is far ahead of committed ${state.epoch}`);
        }
      },
    },
  );

  // A compaction commits here, between two epochs: an epoch waits for at most one compaction commit.
  setHandler(
    maintainUpdate,
    async (request: MaintenanceRequest): Promise<MaintenanceResult> => {
      await condition(() => !committing);
      committing = true;
      try {
        const result = await maintenanceActivities.commitMaintenance(request);
        const rewritten = result.commits.some((commit) => commit.identifier === input.table && commit.committed);
        if (rewritten && lastRoute) {
          try {
            await locatorActivities(lastRoute.hostTaskQueue).refreshLocator({
              table: input.table,
              spoolDir: lastRoute.spoolDir,
            });
          } catch (error) {
            log.warn('the locator was not refreshed after the compaction; the next epoch rebuilds it', {
              table: input.table,
              error: error instanceof Error ? error.message : String(error),
            });
          }
        }
        return result;
      } finally {
        committing = false;
      }
    },
    {
      validator: (request: MaintenanceRequest) => {
        if (request.table !== input.table) {
          throw ApplicationFailure.nonRetryable(`maintenance of ${request.table} sent to the actor of ${input.table}`);
        }
        if (!Number.isFinite(request.orphanGraceMs) || request.orphanGraceMs < 0) {
          throw ApplicationFailure.nonRetryable(`orphanGraceMs must be a number >= 0, got ${request.orphanGraceMs}`);
        }
        if (!Number.isSafeInteger(request.retainSnapshots) || request.retainSnapshots < 1) {
          throw ApplicationFailure.nonRetryable(
            `retainSnapshots must be an integer >= 1, got ${request.retainSnapshots}`,
          );
        }
      },
    },
  );

  await condition(() => state.epochsThisRun >= EPOCHS_PER_RUN && !committing && allHandlersFinished());
  const { epochsThisRun: _count, lastCommit: _last, failure: _failure, ...next } = state;
  await continueAsNew<typeof tableActorWorkflow>(next);
}
