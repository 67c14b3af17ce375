import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PG_CDC_BIN } from '../support/cli.js';
import { tempDir } from '../support/stack.js';

describe('npm run demo (pg-cdc demo)', () => {
  it('runs on the embedded default, serves the Temporal UI while it runs, and stops cleanly on SIGINT', async () => {
    const stateDir = tempDir('pg-cdc-demo-');
    const child = spawn(process.execPath, [PG_CDC_BIN, 'demo', '--state-dir', stateDir, '--hold', 'forever'], {
      env: { ...process.env, PGCDC_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    const uiUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`demo did not come up:\n${stdout}\n${stderr}`)), 120_000);
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /Temporal UI: (http:\/\/\S+)/.exec(stdout);
        if (match && /Ctrl-C stops the demo/.test(stdout)) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      void exited.then((code) => reject(new Error(`demo exited early (${code}):\n${stdout}\n${stderr}`)));
    });

    assert.match(stdout, /demo data loaded/);
    assert.match(stdout, /✓ wal-level/);
    assert.match(stdout, /workflow preflight:pg_cdc_slot completed through the worker: source is ready/);
    assert.match(stdout, /workflow snapshot:pg_cdc_slot: snapshot at LSN [0-9A-F]+\/[0-9A-F]+ into Iceberg v2/);
    assert.match(stdout, /public\.orders: 1000 rows/);
    assert.match(stdout, /\| shipped \|/);
    assert.match(stdout, /\(5 rows\)/);
    assert.match(
      stdout,
      /--role analyst -t public\.customers → .*TABLE_NOT_FOUND|--role analyst -t public\.customers → .*not/,
    );
    // The live workload reaches the lake while the stream runs: the epoch moves and rows arrive.
    const epochs = [...stdout.matchAll(/public\.orders {2}epoch (\d+)/g)].map((m) => Number(m[1]));
    assert.ok(epochs.length > 0 && Math.max(...epochs) >= 2, `epochs seen: ${epochs.join(', ')}\n${stdout}`);
    assert.match(stdout, /changelog public\.orders__changes: .*\d+ insert/);
    const ui = await fetch(uiUrl);
    assert.equal(ui.status, 200, 'the Temporal UI answers while the demo runs');
    assert.match(await ui.text(), /<html/i);

    child.kill('SIGINT');
    assert.equal(await exited, 0, stderr);
    assert.equal(existsSync(join(stateDir, 'postgres', 'data', 'postmaster.pid')), false, 'postgres was stopped');
    await assert.rejects(fetch(uiUrl), 'the Temporal server was stopped');
  });
});
