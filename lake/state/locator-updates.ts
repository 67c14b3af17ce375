import { join, resolve } from 'node:path';
import type { Logger } from '../../core/log/index.js';

/**
 * Locator updates that finish after their epoch returned. Moving a locator to the snapshot just committed is
 * bookkeeping of this process (the lake is already right, and a locator that lags is rebuilt from it), so the
 * epoch does not wait for it: the table's next epoch does, when it opens the locator, and a shutdown does, so
 * that the next start finds it current. One update per locator file at a time; they never reject.
 */
const running = new Map<string, Promise<void>>();

/**
 * Runs `update` after any update of the same locator still running. A failed update is logged, not rethrown: it
 * must leave the locator as it was (tagged with an older snapshot), which the table's next epoch rebuilds.
 */
export function startLocatorUpdate(path: string, log: Logger, context: object, update: () => Promise<void>): void {
  const previous = running.get(path) ?? Promise.resolve();
  const next: Promise<void> = previous
    .then(update)
    .catch((error: unknown) => {
      log.warn({ ...context, err: error, path }, 'locator update failed; the next epoch rebuilds it from the lake');
    })
    .finally(() => {
      if (running.get(path) === next) running.delete(path);
    });
  running.set(path, next);
}

/** Settles once no update of the locator at `path` is running. */
export async function locatorUpdated(path: string): Promise<void> {
  for (let pending = running.get(path); pending !== undefined; pending = running.get(path)) await pending;
}

/** Settles once every locator update of this process finished (before the process ends). */
export async function settleLocatorUpdates(): Promise<void> {
  while (running.size > 0) await Promise.all(running.values());
}

/**
 * Where a process keeps its tables' locators: `<state_dir>/locators`. A cache of the lake, next to the worker:
 * losing it costs a rebuild, never data.
 */
export const locatorRoot = (stateDir: string): string => join(resolve(stateDir), 'locators');
