import { Command, CommanderError } from 'commander';
import { PgCdcError } from '../core/errors/index.js';
import { packageVersion } from './commands/version.js';
import { EXIT, reportError } from './exit.js';

/** Commands of the reference CLI that this version does not provide yet: they say so instead of "unknown command". */
const NOT_YET_AVAILABLE: ReadonlyArray<[string, string]> = [];

type Register = (program: Command) => void;

/**
 * Each command's module, loaded only when that command runs: the commands pull in Temporal, DuckDB, Fastify and
 * the MCP SDK between them, and loading all of them cost every command about 0.6 s of start-up.
 */
const COMMANDS: ReadonlyArray<[string, () => Promise<Register>]> = [
  ['version', async () => (await import('./commands/version.js')).registerVersion],
  ['preflight', async () => (await import('./commands/preflight.js')).registerPreflight],
  ['discover', async () => (await import('./commands/discover.js')).registerDiscover],
  ['init', async () => (await import('./commands/init.js')).registerInit],
  ['teardown', async () => (await import('./commands/teardown.js')).registerTeardown],
  ['start', async () => (await import('./commands/start.js')).registerStart],
  ['status', async () => (await import('./commands/status.js')).registerStatus],
  ['query', async () => (await import('./commands/query.js')).registerQuery],
  ['serve', async () => (await import('./commands/serve.js')).registerServe],
  ['acl', async () => (await import('./commands/acl.js')).registerAcl],
  ['compact', async () => (await import('./commands/compact.js')).registerCompact],
  ['catalog', async () => (await import('./commands/catalog.js')).registerCatalog],
  ['reconcile', async () => (await import('./commands/reconcile.js')).registerReconcile],
  ['promote', async () => (await import('./commands/promote.js')).registerPromote],
  ['worker', async () => (await import('./commands/worker.js')).registerWorker],
  ['demo', async () => (await import('./commands/demo.js')).registerDemo],
  ['embedded', async () => (await import('./commands/embedded.js')).registerEmbedded],
];

/** Global options that take a value as the next argument. */
const VALUE_OPTIONS = new Set(['--config', '--log-level']);

/** The command named on the command line, if it is one of ours; undefined for help, a typo or none. */
function commandIn(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (VALUE_OPTIONS.has(arg)) i++;
    else if (!arg.startsWith('-')) return COMMANDS.some(([name]) => name === arg) ? arg : undefined;
  }
  return undefined;
}

export async function buildProgram(argv: readonly string[] = process.argv): Promise<Command> {
  const program = new Command('pg-cdc')
    .description('PostgreSQL change data capture into governed Apache Iceberg tables, as durable Temporal workflows')
    .version(packageVersion(), '-V, --version')
    .option('--config <path>', 'configuration file (default: $PGCDC_CONFIG or ./pg-cdc.yml)')
    .option('--log-level <level>', 'trace | debug | info | warn | error (default: log.level from the config)')
    .showHelpAfterError()
    .exitOverride();

  const wanted = commandIn(argv.slice(2));
  // Help, an unknown command or none: every command, so help lists them all and commander can suggest one.
  for (const [name, load] of COMMANDS) if (wanted === undefined || wanted === name) (await load())(program);
  for (const [name, what] of NOT_YET_AVAILABLE) {
    program
      .command(name, { hidden: true })
      .description(`${what} (not available in this version)`)
      .allowUnknownOption()
      .allowExcessArguments()
      .action(() => {
        throw new PgCdcError('NOT_AVAILABLE', `\`pg-cdc ${name}\` (${what}) is not available in this version`, {
          hint: 'available now: preflight, discover, init, status, query, serve, acl, catalog, compact, promote, reconcile, teardown, version, worker, demo, embedded; see docs/cli.md',
        });
      });
  }
  return program;
}

async function main(argv: string[]): Promise<number> {
  try {
    await (await buildProgram(argv)).parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.error;
    return await reportError(error);
  }
}

// Not top-level await: the CLI runs from a CommonJS bundle (bin/launch.mjs).
async function run(): Promise<void> {
  const exitCode = await main(process.argv);
  // The command is done. What would still run is teardown of the SDK's worker threads and native runtimes (a quarter
  // of a second after a worker has run), which holds nothing a command needs; what was written is flushed first.
  await Promise.all(
    [process.stdout, process.stderr].map((stream) => new Promise((flushed) => stream.write('', flushed))),
  );
  process.exit(exitCode);
}

void run();
