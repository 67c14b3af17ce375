import type { Command } from 'commander';
import { buildAccessMap, formatAccessMap } from '../../governance/access-map.js';
import { discoverTables, formatDiscovery } from '../../source/discover.js';
import { formatDiscoverPlan, planDiscovery } from '../discover-plan.js';
import { loadContext, resolveSourceUrl, type GlobalOptions } from '../context.js';

export function registerDiscover(program: Command): void {
  program
    .command('discover')
    .description('list the tables the configuration selects, with the reason for every exclusion')
    .option('--json', 'machine-readable output')
    .option('--acl', 'add the role -> table -> column access map of the lake (tags and break-glass grants)')
    .option('--dry-run', 'also show what init (or the next start) would change: publication, slot, tables to snapshot')
    .action(async (options: { json?: boolean; acl?: boolean; dryRun?: boolean }) => {
      const context = await loadContext(program.opts<GlobalOptions>());
      const url = await resolveSourceUrl(context);
      const settings = { ...context.config.source.postgres, url };
      const result = await discoverTables(settings, context.config.tables, { log: context.log });
      const acl = options.acl ? await buildAccessMap(context.config) : undefined;
      const plan = options.dryRun ? await planDiscovery(context.config, settings, result) : undefined;
      if (options.json) {
        const extra = { ...(acl ? { acl } : {}), ...(plan ? { plan } : {}) };
        process.stdout.write(`${JSON.stringify({ ...result, ...extra }, null, 2)}\n`);
      } else {
        const sections = [formatDiscovery(result), acl && formatAccessMap(acl), plan && formatDiscoverPlan(plan)];
        process.stdout.write(`${sections.filter(Boolean).join('\n\n')}\n`);
      }
    });
}
