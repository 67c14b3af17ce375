/**
 * Fault: the spool's disk filling up. The spool is on a 32 MiB tmpfs of its own; at a seeded moment under pgbench
 * a ballast file takes every byte left, for a seeded 5–10 s, and is then deleted. `pg-cdc start` must pause or fail
 * clearly without confirming the slot past what the lake holds, and resume once the space is back (started again
 * if it exited).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { between } from './support/env.js';
import { missingTool, runFaultCase } from './support/fault-case.js';
import { skipLoudlyOrFail } from '../support/skip.js';

/** A small tmpfs for the spool, or the reason there is none (mounting needs root, or CAP_SYS_ADMIN). */
function mountSpool(): { dir?: string; skip?: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pg-cdc-spool-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', dir], { stdio: 'pipe' });
    return { dir };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    const why = (error as { stderr?: Buffer }).stderr?.toString().trim() ?? String(error);
    return { skip: skipLoudlyOrFail(`cannot mount a tmpfs for the spool (${why}): the case needs root`) };
  }
}

/** Writes zeros into `path` until the file system is full; the bytes written. */
function fillDisk(path: string): number {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(256 * 1024);
  let written = 0;
  try {
    for (;;) written += writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  return written;
}

const tool = missingTool();
const spool = tool ? {} : mountSpool();

describe('fault: the spool disk full', { skip: tool || spool.skip || false }, () => {
  it('start pauses or fails clearly, and resumes when space returns, with nothing lost or repeated', () =>
    runFaultCase({
      name: 'spool-full',
      loadSec: 20,
      config: ['spool:', `  dir: ${spool.dir!}`],
      async inject({ processes, random, untilMs, elapsedSec, record }) {
        await untilMs(between(random, 4, 10));
        const at = elapsedSec();
        const ballast = join(spool.dir!, 'ballast');
        const bytes = fillDisk(ballast);
        await new Promise((resolve) => setTimeout(resolve, between(random, 5, 10)));
        const during = processes.streamExit();
        rmSync(ballast);
        record(
          `spool disk full (${(bytes / 2 ** 20).toFixed(1)} MiB ballast) for ${(elapsedSec() - at).toFixed(1)} s`,
          at,
          during
            ? `${await processes.ensureStreaming()} (it ended while the disk was full)`
            : await processes.ensureStreaming(),
        );
      },
      cleanup: () => {
        execFileSync('umount', [spool.dir!]);
        rmSync(spool.dir!, { recursive: true, force: true });
        return Promise.resolve();
      },
    }));
});
