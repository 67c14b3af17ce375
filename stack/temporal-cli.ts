import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { EnvironmentError } from '../core/errors/index.js';
import { cachedBinDir } from './paths.js';

/** The Temporal CLI tag we build: later tags carry a `replace` directive and cannot be `go install`ed. */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

const isExecutable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

export interface TemporalCli {
  readonly path: string;
  readonly source: 'TEMPORAL_CLI' | 'PATH' | 'cache';
}

/** TEMPORAL_CLI wins, then a `temporal` on PATH, then the copy `scripts/setup` built into the cache. */
export function locateTemporalCli(env: NodeJS.ProcessEnv = process.env): TemporalCli | undefined {
  if (env.TEMPORAL_CLI && isExecutable(env.TEMPORAL_CLI)) return { path: env.TEMPORAL_CLI, source: 'TEMPORAL_CLI' };
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, 'temporal');
    if (isExecutable(candidate)) return { path: candidate, source: 'PATH' };
  }
  const cached = join(cachedBinDir(env), 'temporal');
  return isExecutable(cached) ? { path: cached, source: 'cache' } : undefined;
}

export function requireTemporalCli(env: NodeJS.ProcessEnv = process.env): TemporalCli {
  const cli = locateTemporalCli(env);
  if (cli) return cli;
  if (env.TEMPORAL_CLI) {
    throw new EnvironmentError(`TEMPORAL_CLI points at ${env.TEMPORAL_CLI}, which is not an executable`, {
      hint: 'unset TEMPORAL_CLI to use the copy `npm run setup` builds, or point it at a temporal binary',
    });
  }
  throw new EnvironmentError('the Temporal CLI is not installed', {
    hint: `run \`npm run setup\` (builds it with \`go install ${TEMPORAL_CLI_MODULE}\` into ${cachedBinDir(env)}), or set TEMPORAL_CLI`,
  });
}

export function temporalCliVersion(path: string): string {
  return execFileSync(path, ['--version'], { encoding: 'utf8' }).trim();
}
