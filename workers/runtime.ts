import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { Logger } from '../core/log/index.js';

let installed = false;

export interface RuntimeOptions {
  /**
   * The process handles SIGINT and SIGTERM itself, and its workers stop when it says so. By default the SDK stops
   * every worker of the process on those signals, which a process that must still commit through its own worker
   * after the signal (`pg-cdc start`: its in-flight epochs go through the table actors it hosts) cannot allow.
   */
  readonly ownSignals?: boolean;
}

/**
 * Route the SDK's own logs through pino. The SDK allows one Runtime per process and creates a default one on the
 * first NativeConnection or Worker, so this runs before either; later calls are no-ops.
 */
export function installRuntime(log: Logger, options: RuntimeOptions = {}): void {
  if (installed) return;
  installed = true;
  const target = log.child({ component: 'temporal-sdk' });
  Runtime.install({
    ...(options.ownSignals ? { shutdownSignals: [] } : {}),
    logger: new DefaultLogger('WARN', ({ level, message, meta }) => {
      // Expected for the activity-only worker on the host-pinned queue: not worth a warning.
      if (message.startsWith('No workflows registered')) return;
      const fields = withReadableErrors(meta);
      if (level === 'ERROR') target.error(fields, message);
      else if (level === 'WARN') target.warn(fields, message);
      else target.debug(fields, message);
    }),
  });
}

/** The SDK logs failures under `error`; pino would keep only their enumerable fields and drop the message. */
function withReadableErrors(meta: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!meta) return {};
  const error = meta.error;
  if (!(error instanceof Error)) return meta;
  const cause = error.cause instanceof Error ? { type: error.cause.name, message: error.cause.message } : undefined;
  const { taskToken: _token, ...rest } = meta;
  return { ...rest, error: { type: error.name, message: error.message, ...(cause ? { cause } : {}) } };
}
