import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Tools pg-cdc builds or installs for itself (the Temporal CLI, the Python virtualenv with moto and pyiceberg,
 * DuckDB's extensions for offline use) live in a cache outside the repository so a fresh clone reuses them and
 * `git clean` never throws them away.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PGCDC_CACHE_DIR) return env.PGCDC_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'pg-cdc');
}

/**
 * DuckDB's extension directory when setup filled one (`PGCDC_DUCKDB_EXTENSION_DIR` to choose another): the
 * extensions matching our DuckDB, so that it can LOAD them without a download. Elsewhere DuckDB uses its own
 * directory and installs what it lacks.
 */
export const duckdbExtensionDir = (env: NodeJS.ProcessEnv = process.env): string =>
  env.PGCDC_DUCKDB_EXTENSION_DIR ?? join(cacheDir(env), 'duckdb-extensions');
