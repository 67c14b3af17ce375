import { Context } from '@temporalio/activity';
import { isPgCdcError, isRetryableCode, PgCdcError } from '../core/errors/index.js';
import type { Logger } from '../core/log/index.js';
import type { EpochCommit } from '../lake/state/types.js';
import { spooledCodec } from '../stream/codec.js';
import { loadSealedEpoch } from '../stream/spool-files.js';
import type { EpochRequest } from '../workflows/table-messages.js';
import { asActivity } from './failures.js';
import type { LakeAccess } from './lake.js';

export interface StreamActivityDeps {
  readonly log: Logger;
  readonly lake: () => Promise<LakeAccess>;
}

const HEARTBEAT_MS = 5_000;

export function createStreamActivities(deps: StreamActivityDeps) {
  return {
    /**
     * Brings a table's locator to its current snapshot after a compaction rewrote its files, on the host whose
     * locator it is, so that the table's next epoch does not rebuild it.
     */
    async refreshLocator(input: { table: string; spoolDir: string }): Promise<void> {
      return asActivity(async () => (await deps.lake()).prepareLocator(input.table, spooledCodec(input.spoolDir)));
    },

    /**
     * Writes one sealed epoch of one table into its Iceberg state and changelog tables. Runs on the queue of the
     * host whose spool holds the epoch; idempotent, so a retry after a crash at any point finishes the job once.
     */
    async commitEpoch(request: EpochRequest): Promise<EpochCommit> {
      return asActivity(async () => {
        const codec = spooledCodec(request.spoolDir, request.epoch);
        const lake = await deps.lake();
        let batch = loadSealedEpoch(request.spoolDir, request.epoch);
        if (!batch) {
          // Its files are removed only after it committed; a retry then reads the committed result back.
          if ((await lake.committedEpoch(request.table)) < request.epoch) {
            throw new PgCdcError('SPOOL_MISSING', `epoch ${request.epoch} of ${request.table} is not in the spool`, {
              context: { table: request.table, epoch: request.epoch, spool: request.spoolDir },
              hint: 'its changes were never acknowledged: stop the stream, remove the table actor (`temporal workflow terminate`) and run `pg-cdc start` again to re-read them',
            });
          }
          batch = { table: request.table, epoch: request.epoch, files: [], transactions: [] };
        }
        const started = Date.now();
        const beat = setInterval(() => Context.current().heartbeat({ epoch: request.epoch }), HEARTBEAT_MS);
        try {
          const result = await lake.commitEpoch(batch, codec);
          deps.log.debug(
            { table: request.table, epoch: request.epoch, changes: result.changes, ms: Date.now() - started },
            'epoch committed',
          );
          return result;
        } finally {
          clearInterval(beat);
        }
      }).catch((error: unknown) => {
        // Temporal retries a passing fault with back-off and without a limit: each attempt says so here.
        const cause = error instanceof Error && isPgCdcError(error.cause) ? error.cause : undefined;
        const retrying = cause === undefined || isRetryableCode(cause.code);
        deps.log[retrying ? 'warn' : 'error'](
          {
            table: request.table,
            epoch: request.epoch,
            attempt: Context.current().info.attempt,
            code: cause?.code,
            retrying,
            err: error,
          },
          retrying ? 'epoch commit failed; Temporal retries it' : 'epoch commit failed; not retried',
        );
        throw error;
      });
    },
  };
}
