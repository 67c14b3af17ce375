import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import pino from 'pino';
import { ProgressDisplay } from '../../cli/progress.js';

/** A stream that records what is written, a terminal or not. */
function output(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      stream.text += chunk.toString();
      done();
    },
  }) as unknown as NodeJS.WriteStream & { text: string };
  stream.text = '';
  stream.isTTY = isTTY;
  return stream;
}

const item = { label: 'public.orders', done: 500, total: 1000, finished: false };

describe('progress display', () => {
  it('on a terminal, wants an update every redraw interval and draws a bar', () => {
    const out = output(true);
    const display = new ProgressDisplay(out, pino({ level: 'silent' }), 'rows', 5000, 500);
    display.update([item], 1_000);
    assert.match(out.text, /public\.orders +\[#{12}-{12}\] +50%/);
    assert.equal(display.nextUpdateInMs(1_100), 500);
  });

  it('elsewhere, wants an update only when the next log line is due', () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const display = new ProgressDisplay(output(false), log, 'rows', 5000, 500);
    display.update([item], 10_000);
    assert.equal(lines.length, 1, 'the first update logs at once');
    assert.equal(display.nextUpdateInMs(11_000), 4_000);
    display.update([item], 11_000);
    assert.equal(lines.length, 1, 'an update before the interval logs nothing');
    assert.equal(display.nextUpdateInMs(14_900), 500, 'never sooner than the redraw interval');
  });

  it('elsewhere, retries no faster than the redraw interval while nothing could be shown', () => {
    const display = new ProgressDisplay(output(false), pino({ level: 'silent' }), 'rows', 5000, 500);
    assert.equal(display.nextUpdateInMs(10_000), 500);
  });
});
