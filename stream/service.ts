import type { Client } from '@temporalio/client';
import type { PgCdcConfig } from '../core/config/index.js';
import type { Logger } from '../core/log/index.js';
import { LocalCatalog } from '../lake/catalog/local.js';
import { ManifestStore } from '../lake/manifest.js';
import { createObjectStore } from '../lake/storage/index.js';
import { readServerFacts } from '../source/catalog.js';
import { describeTarget, withSource } from '../source/connection.js';
import { assertPublishable } from '../governance/publishable.js';
import { ActorSink } from './actors.js';
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
  /** Starts the table actors and streams until `runner.stop()` (or a fatal error). */
  run(): Promise<void>;
}

/**
 * Everything `pg-cdc start` runs besides the Temporal workers: the lake's view of each table, the routes and spools,
 * the table actors and the stream runner. The caller owns the Temporal connections and the workers (which must
 * poll `hostTaskQueue`, where epochs are committed next to the spool).
 */
export async function openStreamService(options: {
  config: PgCdcConfig;
  sourceUrl: string;
  log: Logger;
  client: Client;
  taskQueue: string;
  hostTaskQueue: string;
  onStatus?: (metrics: StreamMetrics) => void;
}): Promise<StreamService> {
  const { config, log } = options;
  const source = { ...config.source.postgres, url: options.sourceUrl };
  const store = createObjectStore(config.storage);
  const catalog = new LocalCatalog(store);
  const manifest = new ManifestStore(store);
  const { routes, tables, serverVersion } = await withSource(
    source,
    async (client) => ({
      ...(await prepareRoutes({ config, client, store, catalog, manifest })),
      serverVersion: (await readServerFacts(client)).version_num,
    }),
    { log },
  );
  assertPublishable(
    config,
    tables.map((t) => t.table),
    { database: describeTarget(options.sourceUrl).database },
  );
  const sink = new ActorSink(options.client, options.taskQueue, options.hostTaskQueue);
  const metrics = new StreamMetrics();
  const protoVersion = protocolVersion(config, serverVersion);
  const runner = new StreamRunner({
    config,
    source,
    routes,
    sink,
    log,
    protoVersion,
    metrics,
    ...(options.onStatus ? { onStatus: options.onStatus } : {}),
  });
  return {
    runner,
    metrics,
    tables,
    protoVersion,
    async run() {
      // Replication starts while the actors do: nothing is handed to an actor before its table's first epoch seals,
      // and the sink holds that hand-over until every actor runs.
      const actors = sink.ensureActors(tables);
      const streaming = runner.run();
      try {
        await actors;
      } catch (error) {
        runner.stop();
        await streaming.catch(() => undefined);
        throw error;
      }
      await streaming;
    },
  };
}
