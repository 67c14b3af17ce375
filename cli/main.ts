import { Command, CommanderError } from 'commander';
import { PgCdcError } from '../core/errors/index.js';
import { registerAcl } from './commands/acl.js';
import { registerDemo } from './commands/demo.js';
import { registerDiscover } from './commands/discover.js';
import { registerEmbedded } from './commands/embedded.js';
import { registerInit } from './commands/init.js';
import { registerTeardown } from './commands/teardown.js';
import { registerPreflight } from './commands/preflight.js';
import { registerQuery } from './commands/query.js';
import { registerServe } from './commands/serve.js';
import { registerStart } from './commands/start.js';
import { registerStatus } from './commands/status.js';
import { registerVersion, versionInfo } from './commands/version.js';
import { registerWorker } from './commands/worker.js';
import { EXIT, reportError } from './exit.js';

/** Commands of the reference CLI that this version does not provide yet: they say so instead of "unknown command". */
const NOT_YET_AVAILABLE: ReadonlyArray<[string, string]> = [
  ['compact', 'merge delta epochs into a new base'],
  ['reconcile', 'one-shot schema reconcile'],
  ['promote', 'ref promotion'],
  ['catalog', 'catalog registration'],
];

export function buildProgram(): Command {
  const program = new Command('pg-cdc')
    .description('PostgreSQL change data capture into governed Apache Iceberg tables, as durable Temporal workflows')
    .version(versionInfo().version ?? 'unknown', '-V, --version')
    .option('--config <path>', 'configuration file (default: $PGCDC_CONFIG or ./pg-cdc.yml)')
    .option('--log-level <level>', 'trace | debug | info | warn | error (default: log.level from the config)')
    .showHelpAfterError()
    .exitOverride();

  registerVersion(program);
  registerPreflight(program);
  registerDiscover(program);
  registerInit(program);
  registerTeardown(program);
  registerStart(program);
  registerStatus(program);
  registerQuery(program);
  registerServe(program);
  registerAcl(program);
  registerWorker(program);
  registerDemo(program);
  registerEmbedded(program);
  for (const [name, what] of NOT_YET_AVAILABLE) {
    program
      .command(name, { hidden: true })
      .description(`${what} (not available in this version)`)
      .allowUnknownOption()
      .allowExcessArguments()
      .action(() => {
        throw new PgCdcError('NOT_AVAILABLE', `\`pg-cdc ${name}\` (${what}) is not available in this version`, {
          hint: 'available now: preflight, discover, init, status, query, serve, acl, teardown, version, worker, demo, embedded; see docs/cli.md',
        });
      });
  }
  return program;
}

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.error;
    return reportError(error);
  }
}

process.exitCode = await main(process.argv);
