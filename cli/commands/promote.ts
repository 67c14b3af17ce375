import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { Command } from 'commander';
import { PgCdcError } from '../../core/errors/index.js';
import type { PromotionOutcome } from '../../lake/state/promotion.js';
import { clientOver, connectWorker, resolveTemporal } from '../../workers/connection.js';
import { createWorkerPair } from '../../workers/pool.js';
import { checkPromoteRequest, promoteUpdate, type PromoteRequest } from '../../workflows/promotion-messages.js';
import { actorOf } from './acl-common.js';
import { loadContext, type GlobalOptions } from '../context.js';
import { EXIT } from '../exit.js';
import { ensurePromotionWorkflow } from '../promotion.js';
import { withRun } from '../runs/with-run.js';

interface PromoteOptions {
  readonly from: string;
  readonly to: string;
  readonly force?: boolean;
  readonly dryRun?: boolean;
  readonly json?: boolean;
  readonly reason?: string;
  readonly actor?: string;
}

function describeOutcome(outcome: PromotionOutcome): string[] {
  const { diff } = outcome;
  const head = outcome.dryRun
    ? `dry run: a promotion at ${diff.cutLsn} would be ${diff.classification}${diff.promoteSafe ? '' : ' (needs --force)'}`
    : outcome.promoted
      ? `promoted staging to main at ${diff.cutLsn} (${diff.classification})`
      : `refused: ${outcome.refused ?? 'nothing moved'}`;
  const lines = [head];
  for (const t of diff.tables) {
    const move = t.moves ? `${t.main.snapshotId ?? 'none'} → ${t.target.snapshotId ?? 'none'}` : 'unchanged';
    const lsn = t.moves ? ` (lsn ${t.main.lsn ?? '-'} → ${t.target.lsn ?? '-'})` : '';
    const changes = [
      ...t.added_columns.map((c) => `+${c.name} ${c.type}`),
      ...t.removed_columns.map((c) => `-${c.name} ${c.type}`),
      ...t.renamed_columns.map((c) => `${c.from} → ${c.to}`),
      ...t.type_changes.map((c) => `${c.name}: ${c.from} → ${c.to}`),
      ...(t.primary_key_changed ? ['primary key changed'] : []),
    ];
    lines.push(
      `  ${t.table}: ${t.classification}, main ${move}${lsn}${changes.length ? `; ${changes.join(', ')}` : ''}`,
    );
  }
  return lines;
}

/** 0 promoted (or a dry run that would be), 3 refused (or a dry run that would be), 2 an error. */
const exitOf = (outcome: PromotionOutcome, force: boolean): number => {
  if (outcome.dryRun) return outcome.diff.promoteSafe || force ? EXIT.ok : EXIT.refused;
  return outcome.promoted ? EXIT.ok : EXIT.refused;
};

export function registerPromote(program: Command): void {
  program
    .command('promote')
    .description('move main to staging at one LSN cut across every table, gated by the contract diff')
    .requiredOption('--from <ref>', 'the ref to promote (staging)', 'staging')
    .requiredOption('--to <ref>', 'the branch to move (main)', 'main')
    .option('--force', 'promote even a breaking diff')
    .option('--dry-run', 'print the diff; move nothing')
    .option('--json', 'print the outcome as JSON')
    .option('--reason <text>', 'why, for the audit log')
    .option('--actor <name>', 'who, for the audit log (default: $USER)')
    .action(async (options: PromoteOptions) => {
      const context = await loadContext(program.opts<GlobalOptions>());
      await withRun(context, 'promote', process.argv.slice(2), async (run) => {
        const { config, log } = context;
        const request: PromoteRequest = {
          from: options.from,
          to: options.to,
          force: options.force === true,
          dryRun: options.dryRun === true,
          by: actorOf(options),
          reason: options.reason ?? '',
        };
        const problem = checkPromoteRequest(request);
        if (problem) throw new PgCdcError('REF_INVALID', problem, { hint: 'pg-cdc promote --from staging --to main' });
        const temporal = await resolveTemporal(config.temporal, { stateDir: context.stateDir, log });
        const connection = await connectWorker(temporal, log);
        const client = clientOver(connection, temporal);
        try {
          // A worker of our own: the promotion runs whether or not `pg-cdc start` or `pg-cdc worker` is up.
          const workers = await createWorkerPair({
            connection,
            namespace: temporal.namespace,
            taskQueue: temporal.taskQueue,
            deps: { config, sourceUrl: config.source.postgres.url ?? '', log },
          });
          const outcome = await workers.runUntil(async () => {
            const handle = await ensurePromotionWorkflow({ client, config, taskQueue: temporal.taskQueue, log });
            run.event('workflow.started', { workflow_id: handle.workflowId });
            return handle.executeUpdate(promoteUpdate, { args: [request] });
          });
          run.event('promotion.outcome', {
            dry_run: outcome.dryRun,
            promoted: outcome.promoted,
            refused: outcome.refused ?? null,
            classification: outcome.diff.classification,
            cut_lsn: outcome.diff.cutLsn,
            tables_moved: outcome.diff.tables.filter((t) => t.moves).map((t) => t.table),
          });
          if (options.json) process.stdout.write(`${JSON.stringify(outcome, null, 2)}\n`);
          else process.stdout.write(`${describeOutcome(outcome).join('\n')}\n`);
          process.exitCode = exitOf(outcome, request.force);
        } catch (error) {
          if (!(error instanceof WorkflowUpdateFailedError)) throw error;
          const cause = error.cause instanceof Error ? error.cause.message : error.message;
          throw new PgCdcError('PROMOTION_FAILED', `the promotion failed: ${cause}`, {
            hint: 'see the promote:<db> workflow in the Temporal UI',
            cause: error,
          });
        } finally {
          await connection.close();
        }
      });
    });
}
