import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Debian's package name and binary; Ubuntu and other distributions ship the same browser as chromium-browser. */
export const CHROMIUM_PACKAGE = 'chromium';
const BINARIES = ['chromium', 'chromium-browser'];

const isExecutable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** PGCDC_CHROMIUM wins, then the first chromium on PATH; undefined when there is none. */
export function locateChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.PGCDC_CHROMIUM && isExecutable(env.PGCDC_CHROMIUM)) return env.PGCDC_CHROMIUM;
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    for (const name of BINARIES) {
      const candidate = join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return undefined;
}
