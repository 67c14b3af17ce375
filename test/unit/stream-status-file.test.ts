import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { silentLogger } from '../../core/log/index.js';
import { StatusFileWriter } from '../../stream/status-file.js';

describe('the stream status file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-cdc-status-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const read = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));

  it('keeps the final status, even with an update still being written when it comes', async () => {
    const path = join(dir, 'stream-status.json');
    const writer = new StatusFileWriter(path, silentLogger);
    writer.update({ running: true, changes: 1 });
    // Skipped: the first is still in flight.
    writer.update({ running: true, changes: 2 });
    await writer.final({ running: false, changes: 3 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(read(path), { running: false, changes: 3 });
    assert.deepEqual(readdirSync(dir), ['stream-status.json']);
  });

  it('writes the next update once the previous one is done', async () => {
    const path = join(dir, 'second.json');
    const writer = new StatusFileWriter(path, silentLogger);
    const shows = async (changes: number): Promise<void> => {
      for (let i = 0; i < 200; i++) {
        try {
          if ((read(path) as { changes: number }).changes === changes) return;
        } catch {
          // not written yet
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.fail(`the status file never showed changes ${changes}`);
    };
    writer.update({ changes: 1 });
    await shows(1);
    await new Promise((resolve) => setTimeout(resolve, 10));
    writer.update({ changes: 2 });
    await shows(2);
  });
});
