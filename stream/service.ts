import { availableParallelism } from 'node:os';
import { memoryBudget, type PgCdcConfig } from '../core/config/index.js';
import type { Logger } from '../core/log/index.js';
import { openLake } from '../lake/open.js';
import { readServerFacts } from '../source/catalog.js';
import { describeTarget, withSource } from '../source/connection.js';
import { assertPublishable } from '../governance/publishable.js';
import type { EpochSink } from './committer.js';
import { bindStreamSource } from '../core/metrics/index.js';
import type { TableOnboarding } from './late-tables.js';
import { startMemoryReport } from './memory-report.js';
import { StreamMetrics } from './metrics.js';
import { StreamRunner } from './runner.js';
import { prepareRoutes, type TableStart } from './setup.js';

/** Protocol 2 (large transactions streamed before they commit) where the server has it (PostgreSQL 14+). */
export function protocolVersion(config: PgCdcConfig, serverVersion: number): 1 | 2 {
  const setting = config.replication.protocol_version;
  if (setting === 'auto') return serverVersion >= 140000 ? 2 : 1;
  return setting;
}

export interface StreamService {
  readonly runner: StreamRunner;
  readonly metrics: StreamMetrics;
  readonly tables: readonly TableStart[];
  readonly protoVersion: 1 | 2;
  /**
   * Streams until `runner.stop()` (or a fatal error). `sinkReady`, the start of what epochs are handed to (the table
   * actors), runs alongside: nothing is handed over before a table's first epoch seals, and if it fails the stream
   * ends with its error.
   */
  run(sinkReady?: Promise<unknown>): Promise<void>;
}

/**
 * Everything `pg-cdc start` runs besides Temporal: the lake's view of each table, the routes and spools and the
 * stream runner, which hands sealed epochs to `sink` (the table actors, whose workers poll the host's task queue,
 * where epochs are committed next to the spool).
 */
export async function openStreamService(options: {
  config: PgCdcConfig;
  sourceUrl: string;
  log: Logger;
  sink: EpochSink;
  /** The Temporal side's start for tables that join while streaming (the stream host's). */
  onboarding?: Promise<TableOnboarding>;
  onStatus?: (metrics: StreamMetrics) => void;
}): Promise<StreamService> {
  const { config, log } = options;
  const source = { ...config.source.postgres, url: options.sourceUrl };
  const { store, catalog, manifest } = openLake(config, { log });
  const { routes, tables, serverVersion } = await withSource(
    source,
    async (client) => ({
      ...(await prepareRoutes({ config, client, store, catalog, manifest, log })),
      serverVersion: (await readServerFacts(client)).version_num,
    }),
    { log },
  );
  await assertPublishable(
    config,
    tables.map((t) => t.table),
    { database: describeTarget(options.sourceUrl).database },
  );
  const metrics = new StreamMetrics();
  // This process's /metrics reports this stream from now on.
  bindStreamSource(() => metrics);
  const protoVersion = protocolVersion(config, serverVersion);
  const runner = new StreamRunner({
    config,
    source,
    routes,
    sink: options.sink,
    log,
    protoVersion,
    metrics,
    ...(options.onboarding
      ? { lateTables: { lake: { store, catalog, manifest }, onboarding: options.onboarding } }
      : {}),
    ...(options.onStatus ? { onStatus: options.onStatus } : {}),
  });
  return {
    runner,
    metrics,
    tables,
    protoVersion,
    async run(sinkReady = Promise.resolve()) {
      const stopReport = startMemoryReport({
        log,
        routes,
        budget: memoryBudget(config.memory.limit_mb, config.init.parallel_workers, availableParallelism()),
      });
      const streaming = runner.run().finally(stopReport);
      const ready = sinkReady.then(
        () => ({ failed: false as const }),
        (error: unknown) => {
          runner.abort(error);
          return { failed: true as const, error };
        },
      );
      // Both settle before either is reported: a stream that fails first still waits for the sink's start to end.
      const [streamed, sinkStart] = await Promise.allSettled([streaming, ready]);
      if (streamed.status === 'rejected') throw streamed.reason;
      if (sinkStart.status === 'fulfilled' && sinkStart.value.failed) throw sinkStart.value.error;
    },
  };
}
