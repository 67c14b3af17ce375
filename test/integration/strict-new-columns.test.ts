/**
 * `governance.mode: strict` meets a column added while streaming: the column reaches the lake at once, but no role
 * sees it until `pg-cdc acl set` classifies it (`governance.new_columns: hidden`, strict's default).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../support/cli.js';
import { mainCaughtUp } from '../support/main.js';
import { freshDatabase } from '../support/stack.js';
import { eventually, lakeAt, lakeRows, startStream, streamConfig, type RunningStream } from '../support/stream.js';

describe('strict mode and a column added while streaming', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let config: ReturnType<typeof streamConfig>;
  let stream: RunningStream | undefined;
  const cli = (...args: string[]) => runCli(['--config', config.path, ...args]);
  const columnsSeen = async (): Promise<string[]> => {
    const read = await cli('query', '--role', 'analyst', '-t', 'public.hidden_orders', '-n', '1', '-f', 'json');
    assert.equal(read.code, 0, read.stderr);
    return Object.keys((JSON.parse(read.stdout) as Record<string, unknown>[])[0] ?? {}).sort();
  };

  before(async () => {
    db = await freshDatabase('strict_newcol');
    await db.sql(`
      CREATE TABLE hidden_orders (id bigint PRIMARY KEY, amount numeric(10, 2));
      INSERT INTO hidden_orders SELECT g, g FROM generate_series(1, 20) g;
    `);
    config = streamConfig({
      url: db.url(),
      prefix: 'strict_newcol',
      extra: [
        'tables:',
        '  tags:',
        '    "public.*": { sensitivity: internal }',
        'governance:',
        '  mode: strict',
        '  require_tags: [sensitivity]',
        '  roles:',
        '    analyst: { grant: "sensitivity = internal" }',
      ],
    });
    const init = await cli('init');
    assert.equal(init.code, 0, init.stdout + init.stderr);
    const register = await cli('acl', 'register');
    assert.equal(register.code, 0, register.stdout + register.stderr);
    stream = startStream(config.path);
    await stream.waitForLog(/"msg":"streaming"/);
  });

  after(async () => {
    await stream?.stop('SIGKILL');
    await cli('teardown', '--yes');
  });

  it('lands the column in the lake, hides it from every role, and shows it once classified', async () => {
    assert.deepEqual(await columnsSeen(), ['amount', 'id']);
    await db.sql(
      `ALTER TABLE hidden_orders ADD COLUMN card_number text; UPDATE hidden_orders SET card_number = 'c' || id`,
    );
    await eventually(async () => {
      const rows = await lakeRows(config.lake, 'public.hidden_orders', 'd.card_number');
      return rows.every((r) => typeof r.card_number === 'string') && rows.length === 20 ? true : 'not yet';
    });
    await mainCaughtUp(lakeAt(config.lake), ['public.hidden_orders']);
    assert.deepEqual(await columnsSeen(), ['amount', 'id'], 'a new column waits for its classification');

    const resource = `${db.name}.public.hidden_orders.card_number`;
    const set = await cli('acl', 'set', resource, '--tag', 'sensitivity=internal', '--reason', 'reviewed: masked');
    assert.equal(set.code, 0, set.stdout + set.stderr);
    assert.deepEqual(await columnsSeen(), ['amount', 'card_number', 'id']);
  });
});
