import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Tools pg-cdc builds or installs for itself (the Temporal CLI, the Python virtualenv with moto and pyiceberg)
 * live in a cache outside the repository so a fresh clone reuses them and `git clean` never throws them away.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PGCDC_CACHE_DIR) return env.PGCDC_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'pg-cdc');
}

export const cachedBinDir = (env?: NodeJS.ProcessEnv): string => join(cacheDir(env), 'bin');
export const venvDir = (env?: NodeJS.ProcessEnv): string => join(cacheDir(env), 'venv');
export const venvBin = (name: string, env?: NodeJS.ProcessEnv): string => join(venvDir(env), 'bin', name);
