import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { PgCdcError } from '../../core/errors/index.js';
import { openLake } from '../../lake/open.js';
import { locatorRoot } from '../../lake/state/index.js';
import type { ObjectStore } from '../../lake/storage/index.js';
import { withSource } from '../../source/connection.js';
import { spoolRoot } from '../../stream/setup.js';
import { connectClient, resolveTemporal } from '../../workers/connection.js';
import { dropPublication } from '../../source/snapshot/publication.js';
import { dropSlot } from '../../source/snapshot/slot.js';
import { deleteCompactionSchedules } from '../compaction.js';
import { loadContext, resolveSourceUrl, type GlobalOptions } from '../context.js';

const PURGE_BATCH = 16;

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
      const lakePath = lake?.root ?? lake?.location ?? '';
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
        if (lake.root !== undefined) rmSync(lake.root, { recursive: true, force: true });
        else await purgeObjects(lake.store);
        // The locators index the purged tables' files: nothing in them can be used again.
        rmSync(locatorRoot(config.state_dir), { recursive: true, force: true });
        process.stdout.write(`lake ${lakePath}: deleted\n`);
      }
    });
}

/** Every object under the lake's prefix, a few deletes at a time; nothing outside the prefix is touched. */
async function purgeObjects(store: ObjectStore): Promise<void> {
  const keys = await store.list('');
  for (let start = 0; start < keys.length; start += PURGE_BATCH) {
    await Promise.all(keys.slice(start, start + PURGE_BATCH).map((key) => store.delete(key)));
  }
}
