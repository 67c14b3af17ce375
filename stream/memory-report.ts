import { duckdbMemory } from '../lake/parquet/memory.js';
import type { Logger } from '../core/log/index.js';
import type { MemoryBudget } from '../core/config/index.js';
import type { TableRoute } from './routes.js';

const REPORT_EVERY_MS = 1_000;

/**
 * Where the stream worker's memory goes, logged at debug level once a second as a `memory` line: the process's RSS,
 * V8's heap and the buffers outside it (`process.memoryUsage()`), what each DuckDB's buffer manager holds and has
 * spilled, the spool's buffers, and the shares `memory.limit_mb` gives (core/config/memory.ts). What RSS holds
 * beyond the named parts is the code, the Temporal SDK's core and workflow thread, and allocator slack
 * (docs/development.md#memory). Returns the function that stops it; nothing runs unless debug is enabled.
 */
export function startMemoryReport(options: {
  readonly log: Logger;
  readonly routes: ReadonlyMap<string, TableRoute>;
  readonly budget: MemoryBudget;
}): () => void {
  const { log, routes, budget } = options;
  if (!log.isLevelEnabled('debug')) return () => undefined;
  const limits = {
    process: budget.limitBytes,
    duckdbEpochs: budget.epochs.memoryBytes,
    duckdbCompaction: budget.compaction.memoryBytes,
  };
  let reporting = false;
  const timer = setInterval(() => {
    if (reporting) return;
    reporting = true;
    void duckdbMemory()
      .then((duckdb) => {
        let spoolBuffers = 0;
        for (const route of routes.values()) spoolBuffers += route.spool.bufferedBytes;
        log.debug(
          {
            ...process.memoryUsage(),
            duckdb: Object.fromEntries(Object.entries(duckdb).map(([name, memory]) => [name, memory.usedBytes])),
            duckdbSpilled: Object.fromEntries(
              Object.entries(duckdb).map(([name, memory]) => [name, memory.spilledBytes]),
            ),
            spoolBuffers,
            limits,
          },
          'memory',
        );
      })
      .finally(() => (reporting = false));
  }, REPORT_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
