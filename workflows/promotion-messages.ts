import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { PromotionDiff, PromotionOutcome } from '../lake/state/promotion.js';

/**
 * The promotion workflow `promote:<db>` and the messages it answers: the `promote` Update (and signal, for callers
 * that cannot wait, such as the Temporal UI's signal button) and the `state` query.
 */
export type PromotionMode = 'auto' | 'manual';

export interface PromotionInput {
  /** The source database: the workflow is one per lake. */
  readonly database: string;
  readonly mode: PromotionMode;
  /** How often auto mode promotes and the pending diff is refreshed: the flush interval. */
  readonly checkIntervalMs: number;
  /** Carried over continueAsNew. */
  readonly last?: PromotionOutcome;
}

export interface PromoteRequest {
  /** `staging`: the only ref promotion reads from in this version. */
  readonly from: string;
  /** `main`. */
  readonly to: string;
  readonly force: boolean;
  readonly dryRun: boolean;
  /** Who asked; `pg-cdc` for auto mode. */
  readonly by: string;
  readonly reason: string;
  /** Auto mode's own check: audited only when something moved. */
  readonly auto?: boolean;
}

export interface PromotionState {
  readonly database: string;
  readonly mode: PromotionMode;
  /** Main against staging per table, and what a promotion now would do (refreshed every check). */
  readonly pending?: PromotionDiff;
  /** The last promotion asked for (or made by auto mode), with its outcome. */
  readonly last?: PromotionOutcome;
  readonly promotions: number;
}

/** Failure types of a rejected Update: stable, the CLI matches on them. */
export const PROMOTION_FAILURES = { refInvalid: 'REF_INVALID' } as const;

export const promoteUpdate = defineUpdate<PromotionOutcome, [PromoteRequest]>('promote');
export const promoteSignal = defineSignal<[PromoteRequest]>('promote');
export const promotionStateQuery = defineQuery<PromotionState>('state');

/** What a promote request may name: this version promotes `staging` to `main` only. */
export function checkPromoteRequest(request: PromoteRequest): string | undefined {
  if (request.from !== 'staging') return `promotion reads from staging, not ${JSON.stringify(request.from)}`;
  if (request.to !== 'main') return `promotion moves main, not ${JSON.stringify(request.to)}`;
  if (typeof request.by !== 'string' || request.by.length === 0) return 'a promotion names who asked for it (by)';
  return undefined;
}
