import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { Logger } from '../core/log/index.js';

let installed = false;

/**
 * Route the SDK's own logs through pino. The SDK allows one Runtime per process and creates a default one on the
 * first NativeConnection or Worker, so this runs before either; later calls are no-ops.
 */
export function installRuntime(log: Logger): void {
  if (installed) return;
  installed = true;
  const target = log.child({ component: 'temporal-sdk' });
  Runtime.install({
    logger: new DefaultLogger('WARN', ({ level, message, meta }) => {
      if (level === 'ERROR') target.error(meta ?? {}, message);
      else if (level === 'WARN') target.warn(meta ?? {}, message);
      else target.debug(meta ?? {}, message);
    }),
  });
}
