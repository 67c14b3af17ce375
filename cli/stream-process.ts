import { setImmediate as nextTurn } from 'node:timers/promises';
import type { PgCdcConfig } from '../core/config/index.js';
import type { Logger } from '../core/log/index.js';
import { DeferredSink } from '../stream/deferred-sink.js';
import type { StreamMetrics } from '../stream/metrics.js';
import { openStreamService, type StreamService } from '../stream/service.js';
import type { TableStart } from '../stream/setup.js';
import type { StreamHost } from './stream-host.js';

/** A running stream worker: the WAL read into spools, and its Temporal side committing the sealed epochs. */
export interface StreamProcess {
  readonly service: StreamService;
  /**
   * The Temporal side, once it is up. If it cannot come up, this rejects and the stream is aborted with the same
   * error, which `streaming` then reports.
   */
  readonly host: Promise<StreamHost>;
  /** Settles when the stream ends: after `stop()` once the in-flight epochs are committed, or on a fatal error. */
  readonly streaming: Promise<void>;
  /** Asks the stream to end: in-flight epochs are committed first. */
  stop(): void;
  /** Closes the Temporal side (its workers finish their tasks); call once `streaming` settled. */
  close(): Promise<void>;
}

/**
 * The Temporal side: its packages are most of start-up (about a second of one core), so they load while the WAL is
 * already being read, and one at a time, so that the read loop gets the event loop between them.
 */
async function openHost(
  options: { config: PgCdcConfig; stateDir: string; sourceUrl: string; log: Logger },
  tables: readonly TableStart[],
  onWorkerFailure: (error: unknown) => void,
): Promise<StreamHost> {
  for (const load of [
    () => import('@temporalio/client'),
    () => import('@temporalio/worker'),
    () => import('@duckdb/node-api'),
  ]) {
    await load();
    await nextTurn();
  }
  const { openStreamHost } = await import('./stream-host.js');
  return openStreamHost({ ...options, tables, onWorkerFailure });
}

/**
 * The stream worker of `pg-cdc start`, composed once for every command that streams (the demo too). Replication
 * starts at once; epochs sealed before the table actors run wait for them in a DeferredSink.
 */
export async function openStreamProcess(options: {
  config: PgCdcConfig;
  stateDir: string;
  sourceUrl: string;
  log: Logger;
  onStatus?: (metrics: StreamMetrics) => void;
}): Promise<StreamProcess> {
  const { config, stateDir, sourceUrl, log } = options;
  const sink = new DeferredSink();
  let attachOnboarding!: (host: Promise<StreamHost>) => void;
  const onboarding = new Promise<StreamHost>((resolve) => (attachOnboarding = resolve)).then(
    (opened) => opened.onboarding,
  );
  // A host that never comes ends the stream (below); nothing waits on this then but a join that is dropped with it.
  onboarding.catch(() => undefined);
  const service = await openStreamService({
    config,
    sourceUrl,
    log,
    sink,
    onboarding,
    ...(options.onStatus ? { onStatus: options.onStatus } : {}),
  });
  const host = openHost({ config, stateDir, sourceUrl, log }, service.tables, (error) => service.runner.abort(error));
  attachOnboarding(host);
  const streaming = service.run(sink.attachWhen(host.then((opened) => opened.sink)));
  // Reported through `streaming`; a caller that never looks at `host` must not see it as unhandled.
  host.catch(() => undefined);
  return {
    service,
    host,
    streaming,
    stop: () => service.runner.stop(),
    close: async () => {
      const opened = await host.catch(() => undefined);
      await opened?.close();
    },
  };
}
