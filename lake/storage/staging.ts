import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Where DuckDB writes a Parquet file before it is uploaded to object storage: one directory per process under
 * `root`, so processes that share a state_dir (a worker beside `start`) never delete each other's files. A file
 * lives from DuckDB's COPY to the end of its upload, and is removed whether the upload succeeded or not; what a
 * crashed process left behind is removed by the next process that opens the staging root.
 */
export class StagingArea {
  readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, String(process.pid));
    sweepDeadProcesses(root);
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
  }

  /** A fresh file name for the object `key` (nothing is created). */
  pathFor(key: string): string {
    return join(this.dir, `${randomBytes(6).toString('hex')}-${basename(key)}`);
  }

  remove(path: string): void {
    rmSync(path, { force: true });
  }
}

/** Removes the staging directories of processes that no longer run (a crash, a kill -9). */
function sweepDeadProcesses(root: string): void {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return;
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid)) {
      rmSync(join(root, entry), { recursive: true, force: true });
    }
  }
}
