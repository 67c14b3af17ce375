import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import { PgCdcError } from '../../core/errors/index.js';
import { searchAttributesOf, workflowIds } from '../../core/temporal/index.js';
import { openLake } from '../../lake/open.js';
import { clientOver, connectWorker, resolveTemporal } from '../../workers/connection.js';
import { createWorkerPair } from '../../workers/pool.js';
import type { CompactionReport } from '../../workflows/compaction-messages.js';
import type { compactionWorkflow } from '../../workflows/compaction.js';
import { compactionInput } from '../compaction.js';
import { withRun } from '../runs/with-run.js';
import { loadContext, type GlobalOptions } from '../context.js';

interface CompactOptions {
  readonly table?: string;
  readonly dryRun?: boolean;
  readonly force?: boolean;
  readonly json?: boolean;
}

const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;

function describeReport(report: CompactionReport): string[] {
  const lines: string[] = [];
  const { plan } = report;
  const part = (name: string, a: CompactionReport['plan']['state'] | undefined): string =>
    a === undefined
      ? `  ${name}: none yet`
      : `  ${name}: ${a.dataFiles} data + ${a.deleteFiles} delete files (${a.smallFiles} small), ` +
        `${a.dataRows} rows, ${a.deletedRows} deleted, ${mib(a.bytes)}` +
        (a.reasons.length > 0 ? `: due, ${a.reasons.join('; ')}` : ': not due');
  lines.push(`${report.table}${report.dryRun ? ' (dry run: nothing written)' : ''}`);
  lines.push(part('state', plan.state), part('changelog', plan.changes));
  if (report.dryRun) {
    lines.push(`  would rewrite: ${report.rewrite.length > 0 ? report.rewrite.join(', ') : 'nothing'}`);
    return lines;
  }
  for (const commit of report.result?.commits ?? []) {
    lines.push(
      `  rewrote ${commit.identifier}: ${commit.filesRemoved} files → ${commit.filesAdded}, ${commit.rows} rows, ` +
        `${mib(commit.bytesBefore)} → ${mib(commit.bytesAfter)}` +
        (commit.carriedDeletes > 0 ? `, ${commit.carriedDeletes} deletes of newer epochs carried over` : '') +
        ` (snapshot ${commit.snapshotId}${commit.committed ? '' : ', already committed'})`,
    );
  }
  for (const table of report.result?.stale ?? []) {
    lines.push(`  ${table}: the rewrite no longer applied (a truncate meanwhile); the next run redoes it`);
  }
  for (const [identifier, expired] of Object.entries(report.result?.expired ?? {})) {
    const orphans = report.result?.orphansDeleted[identifier] ?? 0;
    lines.push(
      `  expired ${identifier}: ${expired.expiredSnapshots} snapshots (${expired.keptSnapshots} kept), ` +
        `${expired.deletedDataFiles} data and ${expired.deletedMetadataFiles} metadata files deleted` +
        (orphans > 0 ? `, ${orphans} unreferenced files removed` : ''),
    );
  }
  const versions = report.result?.versions;
  for (const [name, pruned] of [
    ['manifest', versions?.manifest],
    ['catalog', versions?.catalog],
  ] as const) {
    if (pruned && pruned.deleted > 0) {
      lines.push(`  pruned the ${name}: ${pruned.deleted} old versions deleted, the oldest kept is v${pruned.floor}`);
    }
  }
  return lines;
}

export function registerCompact(program: Command): void {
  program
    .command('compact')
    .description('rewrite small files and deletes into new files, expire old snapshots, remove unreferenced files')
    .option('--table <schema.table>', 'only this table (default: every table in the lake)')
    .option('--dry-run', 'print what is due and what would be rewritten; change nothing')
    .option('--force', 'rewrite even the parts the thresholds do not call due')
    .option('--json', 'print the reports as JSON')
    .action(async (options: CompactOptions) => {
      const context = await loadContext(program.opts<GlobalOptions>());
      await withRun(context, 'compact', process.argv.slice(2), async (run) => {
        const { config, log } = context;
        const manifest = (await openLake(config).manifest.read())?.value;
        const inLake = Object.keys(manifest?.tables ?? {}).sort();
        if (inLake.length === 0) {
          throw new PgCdcError('LAKE_EMPTY', 'the lake holds no tables to compact', {
            hint: 'run `pg-cdc init` first',
          });
        }
        if (options.table !== undefined && !inLake.includes(options.table)) {
          throw new PgCdcError('TABLE_NOT_FOUND', `${options.table} is not a table of the lake`, {
            context: { table: options.table },
            hint: `compact one of: ${inLake.slice(0, 10).join(', ')}${inLake.length > 10 ? ', ...' : ''}`,
          });
        }
        const tables = options.table === undefined ? inLake : [options.table];
        const temporal = await resolveTemporal(config.temporal, { stateDir: context.stateDir, log });
        const connection = await connectWorker(temporal, log);
        const client = clientOver(connection, temporal);
        try {
          await refuseWhileSnapshotting(client, config.replication.slot);
          // A worker of our own: compaction runs whether or not `pg-cdc start` or `pg-cdc worker` is up.
          const workers = await createWorkerPair({
            connection,
            namespace: temporal.namespace,
            taskQueue: temporal.taskQueue,
            deps: { config, sourceUrl: config.source.postgres.url ?? '', log },
          });
          const reports = await workers.runUntil(async () => {
            const done: CompactionReport[] = [];
            for (const table of tables) {
              // A dry run gets an id of its own: it must not join (and report) a compaction that is running.
              const workflowId = `${workflowIds.compaction(table)}${options.dryRun ? ':dry-run' : ''}`;
              const handle = await client.workflow.start<typeof compactionWorkflow>('compactionWorkflow', {
                workflowId,
                taskQueue: temporal.taskQueue,
                args: [
                  compactionInput(config, table, { dryRun: options.dryRun === true, force: options.force === true }),
                ],
                // A compaction of the table already running (its schedule, another `compact`) is joined.
                workflowIdConflictPolicy: 'USE_EXISTING',
                typedSearchAttributes: searchAttributesOf({ kind: 'compaction', table }),
              });
              log.info({ workflowId, ui: temporal.uiUrl }, 'compaction workflow started');
              run.event('workflow.started', { workflow_id: workflowId, table });
              const report = await handle.result();
              run.event('compaction.report', { table, report });
              done.push(report);
            }
            return done;
          });
          if (options.json) process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
          else for (const report of reports) process.stdout.write(`${describeReport(report).join('\n')}\n`);
        } finally {
          await connection.close();
        }
      });
    });
}

/** The tables are not whole while `init` copies them: refused until its snapshot workflow is done. */
async function refuseWhileSnapshotting(client: Client, slot: string): Promise<void> {
  const running = await client.workflow
    .getHandle(workflowIds.snapshot(slot))
    .describe()
    .then(
      (described) => described.status.name === 'RUNNING',
      (error: unknown) => {
        if (error instanceof WorkflowNotFoundError) return false;
        throw error;
      },
    );
  if (running) {
    throw new PgCdcError('SNAPSHOT_RUNNING', `the snapshot ${workflowIds.snapshot(slot)} is still copying the tables`, {
      context: { slot },
      hint: 'wait for `pg-cdc init` to finish, then compact',
    });
  }
}
