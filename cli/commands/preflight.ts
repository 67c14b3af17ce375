import type { Command } from 'commander';
import { formatPreflightReport, preflightExitCode, runPreflight } from '../../source/preflight.js';
import { loadContext, resolveSourceUrl, type GlobalOptions } from '../context.js';

export function registerPreflight(program: Command): void {
  program
    .command('preflight')
    .description('check the source is ready for logical replication (exit 0 ready, 1 not ready, 2 cannot check)')
    .option('--json', 'machine-readable report')
    .action(async (options: { json?: boolean }) => {
      const context = await loadContext(program.opts<GlobalOptions>());
      const url = await resolveSourceUrl(context);
      const { config } = context;
      const report = await runPreflight({ ...config.source.postgres, url }, config.tables, config.replication, {
        log: context.log,
      });
      process.stdout.write(
        options.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatPreflightReport(report)}\n`,
      );
      process.exitCode = preflightExitCode(report);
    });
}
