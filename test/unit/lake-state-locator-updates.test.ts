import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { Logger } from '../../core/log/index.js';
import { locatorUpdated, settleLocatorUpdates, startLocatorUpdate } from '../../lake/state/locator-updates.js';

function captureLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log: Logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  return { log, lines };
}

describe('locator updates after their epoch returned', () => {
  it('runs the updates of one locator one after another; locatorUpdated waits for all of them', async () => {
    const { log } = captureLog();
    const events: string[] = [];
    const update = (name: string, ms: number) => async (): Promise<void> => {
      events.push(`${name} start`);
      await sleep(ms);
      events.push(`${name} end`);
    };
    startLocatorUpdate('/locators/a', log, {}, update('a1', 40));
    startLocatorUpdate('/locators/a', log, {}, update('a2', 5));
    startLocatorUpdate('/locators/b', log, {}, update('b1', 10));
    await locatorUpdated('/locators/a');
    assert.deepEqual(
      events.filter((e) => e.startsWith('a')),
      ['a1 start', 'a1 end', 'a2 start', 'a2 end'],
    );
    // Another locator's update ran beside them, not after.
    assert.ok(events.indexOf('b1 start') < events.indexOf('a1 end'));
    await settleLocatorUpdates();
    assert.ok(events.includes('b1 end'));
  });

  it('an update started while another is awaited is awaited too', async () => {
    const { log } = captureLog();
    let second = false;
    startLocatorUpdate('/locators/c', log, {}, async () => {
      await sleep(10);
      startLocatorUpdate('/locators/c', log, {}, async () => {
        await sleep(10);
        second = true;
      });
    });
    await locatorUpdated('/locators/c');
    assert.equal(second, true);
  });

  it('a failed update is logged with its context and does not stop the next one', async () => {
    const { log, lines } = captureLog();
    let ran = false;
    startLocatorUpdate('/locators/d', log, { table: 'public.t', epoch: 3 }, () =>
      Promise.reject(new Error('disk full')),
    );
    startLocatorUpdate('/locators/d', log, {}, () => {
      ran = true;
      return Promise.resolve();
    });
    await settleLocatorUpdates();
    assert.equal(ran, true);
    const failure = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((l) => l.level === 40);
    assert.ok(failure, 'a warning was logged');
    assert.equal(failure.table, 'public.t');
    assert.equal(failure.epoch, 3);
    assert.match(String(failure.msg), /next epoch rebuilds it/);
    assert.match(JSON.stringify(failure.err), /disk full/);
  });
});
