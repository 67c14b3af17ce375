import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { discardFifo, takeFifo } from '../../lake/parquet/fifo.js';

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
});
