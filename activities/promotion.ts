/**
 * Promotion side effects for promotionWorkflow: fork `staging` (manual mode), read the cut from the slot, move `main`
 * and audit it. Each is idempotent: a retried promotion moves `main` to where it already is, which changes nothing.
 */
import type { PgCdcConfig } from '../core/config/index.js';
import { PgCdcError } from '../core/errors/index.js';
import type { Logger } from '../core/log/index.js';
import { parseLsnText, type LsnText } from '../core/lsn/index.js';
import { metricsCollectErrors, recordPromotionLag } from '../core/metrics/index.js';
import { Registry } from '../governance/registry.js';
import { openLake } from '../lake/open.js';
import {
  holdMain,
  planPromotion,
  promote,
  type PromotionContext,
  type PromotionDiff,
  type PromotionOutcome,
} from '../lake/state/promotion.js';
import { measurePromotionLag } from '../lake/state/promotion-lag.js';
import { withSource } from '../source/connection.js';
import { readSlotPosition } from '../source/slot-position.js';
import type { PromoteRequest } from '../workflows/promotion-messages.js';
import { asActivity } from './failures.js';

export interface PromotionActivityDeps {
  readonly config: PgCdcConfig;
  readonly sourceUrl: string;
  readonly log: Logger;
}

export function createPromotionActivities(deps: PromotionActivityDeps) {
  const log = deps.log.child({ component: 'promotion' });
  const context = (): PromotionContext => {
    const { store, catalog, manifest } = openLake(deps.config);
    return { store, catalog, manifest, log };
  };
  /** The slot's confirmed position: every transaction committed below it is in the lake for every table. */
  const cut = async (): Promise<LsnText> => {
    const slot = deps.config.replication.slot;
    const position = await withSource({ ...deps.config.source.postgres, url: deps.sourceUrl }, (client) =>
      readSlotPosition(client, slot),
    );
    const confirmed = position.slot?.confirmedFlushLsn;
    if (!confirmed) {
      throw new PgCdcError('SLOT_NOT_FOUND', `replication slot ${slot} has no confirmed position to promote at`, {
        context: { slot },
        hint: 'promotion cuts at the slot the stream acknowledges: run `pg-cdc init`, then `pg-cdc start`',
      });
    }
    return parseLsnText(confirmed);
  };
  /**
   * Records how far `main` is behind `staging` in each table of `diff`, as the lake holds them now. A reading that
   * fails (a table dropped meanwhile) is logged and counted, and fails neither the plan nor a promotion made.
   */
  const recordLag = async (diff: PromotionDiff): Promise<void> => {
    try {
      const tables = diff.tables.map((t) => t.table);
      recordPromotionLag(await measurePromotionLag(context(), tables));
    } catch (error) {
      metricsCollectErrors.inc({ family: 'pgcdc_promotion_lag' });
      log.warn({ err: error }, 'promotion lag not measured');
    }
  };
  return {
    /** Forks `staging` at `main` in every table that has none: from now on `main` waits for promotion. */
    async holdMain(): Promise<string[]> {
      return asActivity(() => holdMain(context()));
    },

    /** The diff a promotion now would make (the `state` query's pending diff); records the promotion lag. */
    async planPromotion(): Promise<PromotionDiff> {
      return asActivity(async () => {
        const diff = await planPromotion(context(), await cut());
        await recordLag(diff);
        return diff;
      });
    },

    /**
     * Moves `main` to staging at the cut unless the diff is breaking and not forced; audits what moved and records
     * the promotion lag that is left.
     */
    async promoteToMain(request: PromoteRequest & { readonly database: string }): Promise<PromotionOutcome> {
      return asActivity(async () => {
        const outcome = await promote(context(), { ...request, slotLsn: await cut() });
        const moved = outcome.diff.tables.filter((t) => t.moves);
        if ((outcome.promoted && moved.length > 0) || (outcome.refused && !request.auto)) {
          const registry = Registry.forConfig(deps.config);
          try {
            await registry.auditPromotion(
              { actor: request.by, reason: request.reason },
              request.database,
              { ref: 'main', tables: Object.fromEntries(moved.map((t) => [t.table, t.main.snapshotId])) },
              {
                ref: request.from,
                promoted: outcome.promoted,
                ...(outcome.refused ? { refused: outcome.refused } : {}),
                cut_lsn: outcome.diff.cutLsn,
                forced: request.force && !outcome.diff.promoteSafe,
                classification: outcome.diff.classification,
                tables: Object.fromEntries(moved.map((t) => [t.table, t.target.snapshotId])),
                diff: outcome.diff.tables.filter((t) => t.classification !== 'safe'),
              },
            );
          } finally {
            await registry.close();
          }
        }
        await recordLag(outcome.diff);
        return outcome;
      });
    },
  };
}
