import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { NON_RETRYABLE_CODES } from '../core/errors/catalog.js';
import type { EpochCommit } from '../lake/state/types.js';
import {
  commitEpochUpdate,
  stateQuery,
  type EpochRequest,
  type TableActorInput,
  type TableActorState,
} from './table-messages.js';

/** Epochs per run before continuing as new: keeps the history small (one update and one activity per epoch). */
const EPOCHS_PER_RUN = 200;

const epochActivities = (hostTaskQueue: string) =>
  proxyActivities<Activities>({
    taskQueue: hostTaskQueue,
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '20 seconds',
    retry: { initialInterval: '1s', maximumInterval: '30s', nonRetryableErrorTypes: [...NON_RETRYABLE_CODES] },
  });

/**
 * TableActor `table:<schema>.<table>`: the single writer of one table's Iceberg state and changelog. Epochs arrive
 * as `commitEpoch` Updates and commit strictly in order, one at a time; a resent epoch that is already in the lake
 * returns its result again without writing anything.
 */
export async function tableActorWorkflow(input: TableActorInput): Promise<void> {
  let state: TableActorState = { ...input, epochsThisRun: 0 };
  let committing = false;

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
        if (result.epoch > state.epoch) {
          state = {
            ...state,
            epoch: result.epoch,
            committedLsn: result.committedLsn,
            epochsThisRun: state.epochsThisRun + 1,
            lastCommit: result,
          };
        }
        return result;
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

  await condition(() => state.epochsThisRun >= EPOCHS_PER_RUN && !committing && allHandlersFinished());
  const { epochsThisRun: _count, lastCommit: _last, ...next } = state;
  await continueAsNew<typeof tableActorWorkflow>(next);
}
