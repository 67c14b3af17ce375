import type { Logger } from '../core/log/index.js';
import type { ChangeCodec } from '../lake/state/types.js';
import { spooledCodec } from './codec.js';

/** The part of the lake that builds a table's primary-key locator ahead of its first epoch. */
export interface LocatorPreparer {
  prepareLocator(table: string, codec: ChangeCodec): Promise<void>;
}

/**
 * Brings the streamed tables' locators up to date while the stream starts, one table after another, so that no
 * table's first epoch has to build its locator; stops between tables once `signal` aborts. Never rejects: a table
 * whose locator could not be prepared builds it in its first epoch, as it would have anyway.
 */
export async function prepareStreamLocators(
  lake: () => Promise<LocatorPreparer>,
  tables: readonly { readonly table: string; readonly spoolDir: string }[],
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  for (const { table, spoolDir } of tables) {
    if (signal.aborted) return;
    try {
      await (await lake()).prepareLocator(table, spooledCodec(spoolDir));
    } catch (error) {
      log.warn({ err: error, table }, 'could not prepare the locator; the first epoch builds it');
    }
  }
}
