import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { discardFifo, takeFifo } from '../../lake/parquet/fifo.js';
import { tempDir } from '../support/temp.js';

describe('named pipes for the Parquet writer', () => {
  it('hands out fresh, private FIFOs, more at once than one batch makes', async () => {
    const paths = await Promise.all(Array.from({ length: 19 }, () => takeFifo()));
    assert.equal(new Set(paths).size, paths.length, 'no pipe is handed out twice');
    assert.equal(new Set(paths.map((p) => dirname(p))).size, 1, 'one directory per process');
    for (const path of paths) {
      const stat = statSync(path);
      assert.ok(stat.isFIFO(), `${path} is a FIFO`);
      assert.equal(stat.mode & 0o777, 0o600);
    }
    await Promise.all(paths.map((p) => discardFifo(p)));
    assert.ok(
      paths.every((p) => !existsSync(p)),
      'discarded pipes are gone',
    );
    assert.ok(!paths.includes(await takeFifo()), 'a discarded pipe is never handed out again');
  });

  it('removes its directory, spare pipes included, when the process exits', () => {
    const module = join(import.meta.dirname, '..', '..', 'lake', 'parquet', 'fifo.ts');
    const path = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `console.log(await (await import(${JSON.stringify(module)})).takeFifo())`,
      ],
      { encoding: 'utf8' },
    ).trim();
    assert.ok(path.endsWith('.csv'), path);
    assert.ok(!existsSync(dirname(path)), `${dirname(path)} is gone`);
  });

  it('makes a batch ahead of the first take when asked to prepare', () => {
    const module = join(import.meta.dirname, '..', '..', 'lake', 'parquet', 'fifo.ts');
    // Prepared pipes exist before anything is taken; the first take hands out one of them.
    const script = `
      import { readdirSync, statSync } from 'node:fs';
      import { tmpdir } from 'node:os';
      import { join } from 'node:path';
      import { setTimeout as sleep } from 'node:timers/promises';
      const fifo = await import(${JSON.stringify(module)});
      const before = new Set(readdirSync(tmpdir()));
      fifo.prepareFifos();
      fifo.prepareFifos();
      let dir;
      for (let i = 0; i < 500 && !dir; i++) {
        await sleep(10);
        const made = readdirSync(tmpdir()).find((d) => d.startsWith('pg-cdc-fifo-') && !before.has(d));
        if (made && readdirSync(join(tmpdir(), made)).length >= 8) dir = join(tmpdir(), made);
      }
      await sleep(200); // a second batch, if one were made, would show up meanwhile
      const ready = dir ? readdirSync(dir).filter((f) => statSync(join(dir, f)).isFIFO()) : [];
      const taken = await fifo.takeFifo();
      console.log(JSON.stringify({ ready: ready.length, fromBatch: ready.some((f) => join(dir, f) === taken) }));
    `;
    // Its own temp directory: test files running alongside make pg-cdc-fifo- directories of their own.
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, TMPDIR: tempDir('pg-cdc-fifo-test-') },
    });
    assert.deepEqual(JSON.parse(out), { ready: 8, fromBatch: true }, 'one batch of 8, made once, taken from');
  });
});
