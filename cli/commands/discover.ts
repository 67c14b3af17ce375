import type { Command } from 'commander';
import { discoverTables, formatDiscovery } from '../../source/discover.js';
import { loadContext, resolveSourceUrl, type GlobalOptions } from '../context.js';

export function registerDiscover(program: Command): void {
  program
    .command('discover')
    .description('list the tables the configuration selects, with the reason for every exclusion')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      const context = await loadContext(program.opts<GlobalOptions>());
      const url = await resolveSourceUrl(context);
      const result = await discoverTables({ ...context.config.source.postgres, url }, context.config.tables, {
        log: context.log,
      });
      process.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatDiscovery(result)}\n`);
    });
}
