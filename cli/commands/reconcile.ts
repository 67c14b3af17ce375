import type { Command } from 'commander';
import { PgCdcError } from '../../core/errors/index.js';
import { openLake } from '../../lake/open.js';
import { withSource } from '../../source/connection.js';
import { applyReconcile, planReconcile, type ReconcilePlan } from '../../stream/reconcile.js';
import { loadContext, resolveSourceUrl, type GlobalOptions } from '../context.js';
import { EXIT } from '../exit.js';
import { streamStatus } from './status.js';

interface ReconcileOptions {
  readonly table?: string;
  readonly dryRun?: boolean;
  readonly force?: boolean;
}

export class StreamRunningError extends PgCdcError {
  constructor(pid: number | undefined) {
    super('CONFIRMATION_REQUIRED', `\`pg-cdc start\` is running (pid ${pid ?? '?'}): it follows changes itself`, {
      hint: 'the stream applies a change at its place in the WAL; reconcile is for changes made while it was down. Stop it first, or pass --force to evolve the lake beside it (its next epoch of the table must then agree)',
    });
  }
}

const describePlan = (plan: ReconcilePlan, applied: boolean): string[] =>
  plan.changes.length === 0
    ? [`${plan.table}: up to date`]
    : [`${plan.table}: ${applied ? 'applied' : 'would apply'}`, ...plan.changes.map((c) => `  ${c}`)];

export function registerReconcile(program: Command): void {
  program
    .command('reconcile')
    .description(
      "compare each table's source columns and key with the lake's and apply what changed while `start` was down",
    )
    .option('--table <schema.table>', 'only this table (default: every table of the lake not marked dropped)')
    .option('--dry-run', 'print the plan; change nothing (exit 1 when something would change)')
    .option('--force', 'apply even while `pg-cdc start` runs')
    .action(async (options: ReconcileOptions) => {
      const context = await loadContext(program.opts<GlobalOptions>());
      const { config, log } = context;
      const lake = openLake(config);
      const manifest = (await lake.manifest.read())?.value;
      const inLake = Object.entries(manifest?.tables ?? {})
        .filter(([, entry]) => entry.dropped_at === undefined)
        .map(([table]) => table)
        .sort();
      if (inLake.length === 0) {
        throw new PgCdcError('LAKE_EMPTY', 'the lake holds no tables to reconcile', {
          hint: 'run `pg-cdc init` first',
        });
      }
      if (options.table !== undefined && !inLake.includes(options.table)) {
        throw new PgCdcError('TABLE_NOT_FOUND', `${options.table} is not a streamed table of the lake`, {
          context: { table: options.table },
          hint: `reconcile one of: ${inLake.slice(0, 10).join(', ')}${inLake.length > 10 ? ', ...' : ''}`,
        });
      }
      const stream = streamStatus(context.stateDir);
      if (!options.dryRun && !options.force && stream.running) throw new StreamRunningError(stream.pid);
      const tables = options.table === undefined ? inLake : [options.table];
      const source = { ...config.source.postgres, url: await resolveSourceUrl(context) };
      const plans = await withSource(
        source,
        async (client) => {
          const ctx = { config, client, store: lake.store, catalog: lake.catalog, manifest: lake.manifest, log };
          const done: ReconcilePlan[] = [];
          for (const table of tables) {
            const plan = await planReconcile(ctx, table);
            if (!options.dryRun) await applyReconcile(ctx, plan);
            done.push(plan);
          }
          return done;
        },
        { log },
      );
      for (const plan of plans) process.stdout.write(`${describePlan(plan, !options.dryRun).join('\n')}\n`);
      if (options.dryRun && plans.some((p) => p.changes.length > 0)) process.exitCode = EXIT.notReady;
    });
}
