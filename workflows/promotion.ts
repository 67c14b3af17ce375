import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { NON_RETRYABLE_CODES } from '../core/errors/catalog.js';
import type { PromotionDiff, PromotionOutcome } from '../lake/state/promotion.js';
import {
  checkPromoteRequest,
  promoteSignal,
  promoteUpdate,
  PROMOTION_FAILURES,
  promotionStateQuery,
  type PromoteRequest,
  type PromotionInput,
} from './promotion-messages.js';

const lake = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: {
    initialInterval: '1s',
    maximumInterval: '30s',
    maximumAttempts: 10,
    nonRetryableErrorTypes: [...NON_RETRYABLE_CODES],
  },
});

/** Auto mode's requests: what it promotes by itself (docs/streaming.md, "Refs and promotion"). */
const AUTO_REQUEST: PromoteRequest = {
  from: 'staging',
  to: 'main',
  force: false,
  dryRun: false,
  by: 'pg-cdc',
  auto: true,
  reason: 'auto: every table complete through the cut, and the diff not breaking',
};

/** Checks before a new run: enough to keep the history small however long the lake lives. */
const CHECKS_PER_RUN = 500;

interface Pending {
  readonly request: PromoteRequest;
  readonly settle?: { resolve: (outcome: PromotionOutcome) => void; reject: (error: unknown) => void };
}

/**
 * `promote:<db>`: moves `main` of every table to staging at one LSN cut (lake/state/promotion.ts). Manual mode forks
 * `staging` in every table and waits for a `promote` Update or signal; auto mode also promotes by itself every check
 * (the flush interval) when the diff is not breaking. Requests run one at a time, in the order they came. The
 * `state` query shows main against staging and the pending diff; each run continues as new after CHECKS_PER_RUN.
 */
export async function promotionWorkflow(input: PromotionInput): Promise<never> {
  const queue: Pending[] = [];
  let pending: PromotionDiff | undefined;
  let last = input.last;
  let promotions = 0;

  setHandler(promotionStateQuery, () => ({
    database: input.database,
    mode: input.mode,
    ...(pending ? { pending } : {}),
    ...(last ? { last } : {}),
    promotions,
  }));
  setHandler(
    promoteUpdate,
    (request) =>
      new Promise<PromotionOutcome>((resolve, reject) => queue.push({ request, settle: { resolve, reject } })),
    {
      validator: (request: PromoteRequest) => {
        const problem = checkPromoteRequest(request);
        if (problem) {
          throw ApplicationFailure.create({
            type: PROMOTION_FAILURES.refInvalid,
            message: problem,
            nonRetryable: true,
          });
        }
      },
    },
  );
  setHandler(promoteSignal, (request) => {
    if (checkPromoteRequest(request) === undefined) queue.push({ request });
  });

  if (input.mode === 'manual') await lake.holdMain();
  for (let check = 0; check < CHECKS_PER_RUN; check++) {
    await condition(() => queue.length > 0, input.checkIntervalMs);
    const next = queue.shift();
    if (next) {
      try {
        // A table created since (its changelog's first epoch) gets its staging branch before anything moves.
        if (input.mode === 'manual') await lake.holdMain();
        const outcome = await lake.promoteToMain({ ...next.request, database: input.database });
        if (!outcome.dryRun) last = outcome;
        if (outcome.promoted) promotions++;
        pending = outcome.diff;
        next.settle?.resolve(outcome);
      } catch (error) {
        if (!next.settle) throw error;
        next.settle.reject(error);
      }
      continue;
    }
    if (input.mode === 'auto') {
      const outcome = await lake.promoteToMain({ ...AUTO_REQUEST, database: input.database });
      if (outcome.promoted && outcome.diff.tables.some((t) => t.moves)) {
        last = outcome;
        promotions++;
      }
      pending = outcome.diff;
    } else {
      pending = await lake.planPromotion();
    }
  }
  await condition(() => queue.length === 0 && allHandlersFinished());
  return continueAsNew<typeof promotionWorkflow>({ ...input, ...(last ? { last } : {}) });
}
