import type { Command } from 'commander';
import { registerLakeTables, type RegisterResult } from '../../lake/catalog/register.js';
import { openLake } from '../../lake/open.js';
import { loadContext, type GlobalOptions } from '../context.js';
import { EXIT } from '../exit.js';
import { writeMetricsFile } from '../metrics-endpoint.js';

interface RegisterOptions {
  readonly table?: string;
  readonly json?: boolean;
  readonly metricsFile?: string;
}

const SIGN: Record<RegisterResult['outcome'], string> = { registered: ' ', created: '+', updated: '~', published: '~' };

function describe(result: RegisterResult): string {
  const what =
    result.outcome === 'created'
      ? 'was missing: registered'
      : result.outcome === 'updated'
        ? `was stale (${result.was ?? '?'}): updated`
        : result.outcome === 'published'
          ? 'its Hive table was behind: published'
          : 'registered';
  return `${SIGN[result.outcome]} ${result.identifier}: ${what} → ${result.metadataKey}`;
}

export function registerCatalog(program: Command): void {
  const catalog = program.command('catalog').description('the catalog the lake registers its tables in');
  catalog
    .command('register')
    .description(
      're-sync every lake table (state and changelog) into the catalog, idempotently: exit 0 clean, 3 drift healed',
    )
    .option('--table <schema.table>', 'only this table and its changelog (default: every table in the lake)')
    .option('--json', 'machine-readable output')
    .option('--metrics-file <path>', "write the run's metrics there (node_exporter's textfile collector)")
    .action(async (options: RegisterOptions) => {
      const { config } = await loadContext(program.opts<GlobalOptions>());
      const results = await registerLakeTables(openLake(config), options.table);
      if (options.metricsFile !== undefined) await writeMetricsFile(options.metricsFile);
      const healed = results.filter((result) => result.outcome !== 'registered');
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ catalog: config.catalog.type, tables: results }, null, 2)}\n`);
      } else {
        for (const result of results) process.stdout.write(`${describe(result)}\n`);
        process.stdout.write(
          `${results.length} tables, ${healed.length} healed (catalog.type ${config.catalog.type})\n`,
        );
      }
      if (healed.length > 0) process.exitCode = EXIT.driftHealed;
    });
}
