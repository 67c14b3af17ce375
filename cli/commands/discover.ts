import type { Command } from 'commander';
import { buildAccessMap, formatAccessMap } from '../../governance/access-map.js';
import { discoverTables, formatDiscovery } from '../../source/discover.js';
import { loadContext, resolveSourceUrl, type GlobalOptions } from '../context.js';

export function registerDiscover(program: Command): void {
  program
    .command('discover')
    .description('list the tables the configuration selects, with the reason for every exclusion')
    .option('--json', 'machine-readable output')
    .option('--acl', 'add the role -> table -> column access map of the lake (tags and break-glass grants)')
    .action(async (options: { json?: boolean; acl?: boolean }) => {
      const context = await loadContext(program.opts<GlobalOptions>());
      const url = await resolveSourceUrl(context);
      const result = await discoverTables({ ...context.config.source.postgres, url }, context.config.tables, {
        log: context.log,
      });
      const acl = options.acl ? await buildAccessMap(context.config) : undefined;
      if (options.json) {
        process.stdout.write(`${JSON.stringify(acl ? { ...result, acl } : result, null, 2)}\n`);
      } else {
        process.stdout.write(`${formatDiscovery(result)}\n${acl ? `\n${formatAccessMap(acl)}\n` : ''}`);
      }
    });
}
