/**
 * `governance.mode: strict` as a user meets it: `init` refuses to publish an untagged table, names it and says how
 * to tag it, and writes nothing; once pg-cdc.yml tags it, the same `init` succeeds.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli } from '../support/cli.js';
import { freshDatabase, sharedTemporal, tempDir, uniqueName, writeConfig } from '../support/stack.js';

describe('governance.mode strict', () => {
  let config = '';
  after(async () => {
    if (config) await runCli(['--config', config, 'teardown', '--yes']);
  });

  it('refuses to publish untagged tables, says how to tag them, and publishes once they are tagged', async () => {
    const db = await freshDatabase('strict');
    await db.sql(`CREATE TABLE tagged (id int PRIMARY KEY); CREATE TABLE untagged (id int PRIMARY KEY);`);
    const temporal = sharedTemporal();
    const lines = (tags: string) => [
      `state_dir: ${join(tempDir(), 'state')}`,
      'source:',
      '  postgres:',
      `    url: ${db.url()}`,
      'replication:',
      `  slot: ${uniqueName('strict_slot')}`,
      'tables:',
      '  tags:',
      tags,
      'governance:',
      '  mode: strict',
      '  require_tags: [sensitivity]',
      'temporal:',
      `  address: ${temporal.address}`,
      `  namespace: ${temporal.namespace}`,
      `  task_queue: ${uniqueName('strict')}`,
      '',
    ];
    config = writeConfig(lines('    "public.tagged": { sensitivity: internal }').join('\n'));

    const refused = await runCli(['--config', config, 'init']);
    assert.equal(refused.code, 2, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /UNTAGGED_TABLES/);
    assert.match(refused.stderr, /public\.untagged/);
    assert.doesNotMatch(refused.stderr, /public\.tagged[^_]/);
    assert.match(refused.stderr, /tables\.tags/);
    const status = JSON.parse((await runCli(['--config', config, 'status', '--json'])).stdout) as {
      source: { slot: { exists: boolean } };
      lake: { snapshotted: boolean };
    };
    assert.equal(status.source.slot.exists, false, 'no slot was left behind');
    assert.equal(status.lake.snapshotted, false, 'nothing was written to the lake');

    writeFileSync(config, lines('    "public.*": { sensitivity: internal }').join('\n'));
    const published = await runCli(['--config', config, 'init']);
    assert.equal(published.code, 0, published.stdout + published.stderr);
    assert.match(published.stdout, /public\.untagged: 0 rows/);
  });
});
