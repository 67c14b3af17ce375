import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { PgCdcError } from '../../core/errors/index.js';
import { openLake } from '../../lake/open.js';
import { locatorRoot } from '../../lake/state/index.js';
import { withSource } from '../../source/connection.js';
import { spoolRoot } from '../../stream/setup.js';
import { connectClient, resolveTemporal } from '../../workers/connection.js';
import { dropPublication } from '../../source/snapshot/publication.js';
import { dropSlot } from '../../source/snapshot/slot.js';
import { deleteCompactionSchedules } from '../compaction.js';
import { loadContext, resolveSourceUrl, type GlobalOptions } from '../context.js';

async function confirmPurge(path: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`Delete everything under ${path}? Type "delete" to confirm: `);
    return answer.trim() === 'delete';
  } finally {
    prompt.close();
  }
}

export function registerTeardown(program: Command): void {
  program
    .command('teardown')
    .description('drop the replication slot and publication; --purge-storage also deletes the lake')
    .option('--purge-storage', 'delete the lake (data, metadata, catalog, manifest) after a confirmation')
    .option('--yes', 'do not ask for confirmation (for scripts)')
    .action(async (options: { purgeStorage?: boolean; yes?: boolean }) => {
      const context = await loadContext(program.opts<GlobalOptions>());
      const { config } = context;
      // Decide about the lake before touching anything: a refused purge must not leave a half-done teardown.
      const lake = options.purgeStorage ? openLake(config) : undefined;
      if (lake && lake.root === undefined) {
        throw new PgCdcError('NOT_AVAILABLE', 'purging object storage is not available yet', {
          hint: 'delete the bucket prefix with your storage tools',
        });
      }
      const lakePath = lake?.root ?? '';
      if (options.purgeStorage && !options.yes) {
        if (!process.stdin.isTTY) {
          throw new PgCdcError('CONFIRMATION_REQUIRED', `refusing to delete ${lakePath} without confirmation`, {
            hint: 'add --yes to delete without asking (no terminal to ask on)',
          });
        }
        if (!(await confirmPurge(lakePath))) {
          process.stderr.write('not confirmed: nothing was changed\n');
          process.exitCode = 1;
          return;
        }
      }
      const url = await resolveSourceUrl(context);
      const { slot, publication } = config.replication;
      const dropped = await withSource({ ...config.source.postgres, url }, async (client) => ({
        slot: await dropSlot(client, slot),
        publication: await dropPublication(client, publication),
      }));
      process.stdout.write(`slot ${slot}: ${dropped.slot ? 'dropped' : 'did not exist'}\n`);
      process.stdout.write(`publication ${publication}: ${dropped.publication ? 'dropped' : 'did not exist'}\n`);
      // The slot is gone, and with it any reason to keep what its stream spooled: a later `init` under the same
      // slot name must start from an empty spool.
      const spool = spoolRoot(config);
      rmSync(spool, { recursive: true, force: true });
      process.stdout.write(`spool ${spool}: cleared\n`);
      if (lake && config.catalog.type !== 'local') {
        // Glue keeps its tables apart from the lake: they are unregistered before the lake is deleted.
        let unregistered = 0;
        for (const identifier of await lake.catalog.listTables()) {
          if (await lake.catalog.dropTable(identifier)) unregistered++;
        }
        process.stdout.write(`catalog ${config.catalog.database}: ${unregistered} tables unregistered\n`);
      }
      if (lake) {
        // The purged tables' compaction schedules would fire at a lake that no longer has them.
        const tables = Object.keys((await lake.manifest.read())?.value.tables ?? {});
        if (tables.length > 0) {
          const temporal = await resolveTemporal(config.temporal, { stateDir: context.stateDir, log: context.log });
          const client = await connectClient(temporal);
          try {
            const deleted = await deleteCompactionSchedules(client, tables);
            process.stdout.write(`compaction schedules: ${deleted} deleted\n`);
          } finally {
            await client.connection.close();
          }
        }
        rmSync(lakePath, { recursive: true, force: true });
        // The locators index the purged tables' files: nothing in them can be used again.
        rmSync(locatorRoot(config.state_dir), { recursive: true, force: true });
        process.stdout.write(`lake ${lakePath}: deleted\n`);
      }
    });
}
