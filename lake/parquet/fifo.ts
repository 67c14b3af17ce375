/**
 * Named pipes for writeParquetFromStream, each used once. Node has no mkfifo(3), so every pipe costs a `mkfifo`
 * child process, and forking a process that holds DuckDB and the Temporal SDK takes about 30 ms of the main thread,
 * the thread that also moves the rows. Pipes are therefore made in batches, in one private directory per process
 * that is removed when the process exits.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const BATCH = 8;

let directory: string | undefined;
let made = 0;
const spare: string[] = [];
let making: Promise<void> | undefined;

function ownDirectory(): string {
  if (directory) return directory;
  const created = mkdtempSync(join(tmpdir(), 'pg-cdc-fifo-'));
  process.once('exit', () => rmSync(created, { recursive: true, force: true }));
  directory = created;
  return created;
}

async function makeBatch(): Promise<void> {
  const dir = ownDirectory();
  const paths = Array.from({ length: BATCH }, () => join(dir, `rows-${++made}.csv`));
  await promisify(execFile)('mkfifo', ['-m', '600', ...paths]);
  spare.push(...paths);
}

/** The batch being made, or a new one: never two at once. */
function batch(): Promise<void> {
  making ??= makeBatch().finally(() => (making = undefined));
  return making;
}

/**
 * Make a batch of pipes now, if none is spare, so the first writes do not wait for the `mkfifo` process. Failures
 * are left to takeFifo, which tries again and raises them where a pipe is needed.
 */
export function prepareFifos(): void {
  if (spare.length === 0) batch().catch(() => undefined);
}

/** A new named pipe no one has opened yet; remove it with discardFifo once both ends are closed. */
export async function takeFifo(): Promise<string> {
  for (;;) {
    const path = spare.pop();
    if (path) return path;
    await batch();
  }
}

export async function discardFifo(path: string): Promise<void> {
  await rm(path, { force: true });
}
