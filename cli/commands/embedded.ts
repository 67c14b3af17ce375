import { join } from 'node:path';
import type { Command } from 'commander';
import { stopPostgresAt } from '../../stack/postgres.js';
import { runningDevServerAddress, stopDevServer } from '../../stack/temporal.js';
import { loadContext, type GlobalOptions } from '../context.js';

/**
 * The embedded servers (demo PostgreSQL, Temporal dev server) outlive single commands so that `init`, `start` and
 * the Temporal UI share them; these subcommands show and stop them.
 */
export function registerEmbedded(program: Command): void {
  const embedded = program.command('embedded').description('show or stop the embedded PostgreSQL and Temporal servers');
  embedded
    .command('status')
    .description('which embedded servers are running for this state directory')
    .action(async () => {
      const context = await loadContext(program.opts<GlobalOptions>());
      const temporal = runningDevServerAddress(join(context.stateDir, 'temporal'));
      process.stdout.write(`state directory: ${context.stateDir}\n`);
      process.stdout.write(`temporal: ${temporal ? `running at ${temporal}` : 'not running'}\n`);
    });
  embedded
    .command('stop')
    .description('stop the embedded servers (their data stays in the state directory)')
    .action(async () => {
      const context = await loadContext(program.opts<GlobalOptions>());
      const temporal = await stopDevServer(join(context.stateDir, 'temporal'));
      const postgres = await stopPostgresAt(join(context.stateDir, 'postgres', 'data'));
      process.stdout.write(`temporal: ${temporal ? 'stopped' : 'was not running'}\n`);
      process.stdout.write(`postgres: ${postgres ? 'stopped' : 'was not running'}\n`);
    });
}
