import { renameSync, writeFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../core/log/index.js';

/** Where `pg-cdc start` reports its figures every second, and where `pg-cdc status` reads them. */
export const streamStatusFile = (stateDir: string): string => join(stateDir, 'stream-status.json');

/**
 * Replaces the status file whole (a reader never sees half of one). The updates while the stream runs are written
 * off the main thread, which is the thread that reads the WAL: replacing a file by rename can block for several ms
 * (ext4 writes the new file's data out first). An update due while the previous one is still being written is
 * skipped, as the next one follows a second later. The last one waits for any update in flight, so that it is
 * the one that stays.
 */
export class StatusFileWriter {
  private writing: Promise<void> | undefined;
  private readonly temp: string;

  constructor(
    private readonly path: string,
    private readonly log: Logger,
  ) {
    this.temp = `${path}.${process.pid}.tmp`;
  }

  update(status: object): void {
    if (this.writing) return;
    const text = `${JSON.stringify(status, null, 2)}\n`;
    this.writing = writeFile(this.temp, text)
      .then(() => rename(this.temp, this.path))
      .catch((error: unknown) => this.log.warn({ err: error, path: this.path }, 'could not write the status file'))
      .finally(() => (this.writing = undefined));
  }

  async final(status: object): Promise<void> {
    await this.writing;
    writeFileSync(this.temp, `${JSON.stringify(status, null, 2)}\n`);
    renameSync(this.temp, this.path);
  }
}
