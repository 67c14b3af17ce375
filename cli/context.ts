import { isAbsolute, resolve } from 'node:path';
import { loadConfig, type PgCdcConfig } from '../core/config/index.js';
import { createLogger, type Logger } from '../core/log/index.js';
import { PgCdcError } from '../core/errors/index.js';
import { startDemoSource } from '../stack/demo-source.js';

export interface GlobalOptions {
  readonly config?: string;
  readonly logLevel?: string;
}

export interface CommandContext {
  readonly config: PgCdcConfig;
  readonly log: Logger;
  /** Absolute state directory (embedded servers, spool, local registry). */
  readonly stateDir: string;
}

export async function loadContext(options: GlobalOptions): Promise<CommandContext> {
  const config = await loadConfig(options.config);
  const log = createLogger({ level: (options.logLevel ?? config.log.level) as never, format: config.log.format });
  const stateDir = isAbsolute(config.state_dir) ? config.state_dir : resolve(config.state_dir);
  return { config, log, stateDir };
}

/**
 * The source database URL: the configured one, or, with `source.postgres.embedded: true`, the demo cluster in
 * the state directory (started on first use and left running for the next command).
 */
export async function resolveSourceUrl(context: CommandContext): Promise<string> {
  const { postgres } = context.config.source;
  if (postgres.url) return postgres.url;
  if (!postgres.embedded) {
    throw new PgCdcError('CONFIG_INVALID', 'source.postgres.url is not set', {
      hint: 'set source.postgres.url, or source.postgres.embedded: true for the local demo database',
    });
  }
  const source = await startDemoSource({ stateDir: context.stateDir, keepRunning: true, log: context.log });
  return source.url;
}
