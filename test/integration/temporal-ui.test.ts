/**
 * The Temporal UI finds a table actor by its search attribute, as an operator would: `pg-cdc init` and `pg-cdc
 * start` on the embedded Temporal dev server (its UI on), then headless Chromium renders the UI's workflow list
 * filtered by `PgCdcTable = "public.<table>"`. The UI is a single-page app: the rows exist only once its scripts ran
 * and fetched the list, so a page that merely loaded would show neither table.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from '../../stack/ports.js';
import { stopDevServer } from '../../stack/temporal.js';
import { locateChromium } from '../support/chromium.js';
import { runCli } from '../support/cli.js';
import { skipLoudlyOrFail } from '../support/skip.js';
import { freshDatabase, tempDir, uniqueName, writeConfig } from '../support/stack.js';
import { eventually, startStream, type RunningStream } from '../support/stream.js';

const chromium = locateChromium();
const skip = chromium ? false : skipLoudlyOrFail('no Chromium (run `npm run setup`, or set PGCDC_CHROMIUM)');

/** The DOM of `url` after its scripts ran for up to `budgetMs` of virtual time (network waits count as idle). */
async function renderedDom(url: string, budgetMs = 15_000): Promise<string> {
  const { stdout } = await promisify(execFile)(
    chromium!,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${tempDir('pg-cdc-chromium-')}`,
      `--virtual-time-budget=${budgetMs}`,
      '--dump-dom',
      url,
    ],
    { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 },
  );
  return stdout;
}

/** Workflow ids the rendered list links to (each row's link is `/namespaces/<ns>/workflows/<id>/<run id>`). */
const listedWorkflowIds = (dom: string, namespace: string): string[] =>
  [...dom.matchAll(new RegExp(`href="/namespaces/${namespace}/workflows/([^/"]+)/[^"]*"`, 'g'))].map(([, id]) =>
    decodeURIComponent(id!),
  );

describe('the Temporal UI', { skip }, () => {
  let stateDir: string | undefined;
  let uiPort: number;
  let stream: RunningStream | undefined;

  before(async () => {
    const db = await freshDatabase('ui');
    await db.sql(`
      CREATE TABLE orders (id int PRIMARY KEY, note text);
      CREATE TABLE refunds (id int PRIMARY KEY, note text);
      INSERT INTO orders VALUES (1, 'a');
      INSERT INTO refunds VALUES (1, 'b');`);
    stateDir = join(tempDir(), 'state');
    uiPort = await freePort();
    const config = writeConfig(
      [
        `state_dir: ${stateDir}`,
        `source: { postgres: { url: "${db.url()}" } }`,
        `replication: { slot: ${uniqueName('ui_slot')}, publication: ${uniqueName('ui_pub')} }`,
        'flush: { interval_sec: 0.5 }',
        'temporal:',
        '  address: embedded',
        `  task_queue: ${uniqueName('ui')}`,
        `  embedded: { ui: true, ui_port: ${uiPort} }`,
        '',
      ].join('\n'),
    );
    const init = await runCli(['--config', config, 'init']);
    assert.equal(init.code, 0, init.stdout + init.stderr);
    stream = startStream(config);
    await stream.waitForLog(/"msg":"streaming"/, 120_000);
  });

  after(async () => {
    const code = await stream?.stop();
    if (stateDir) await stopDevServer(join(stateDir, 'temporal'));
    if (stream) assert.equal(code, 0, stream.logs().slice(-4000));
  });

  it('lists the table actor a search-attribute query names, and not the other table', async () => {
    const page = (table: string): string =>
      `http://127.0.0.1:${uiPort}/namespaces/default/workflows?query=${encodeURIComponent(`PgCdcTable="${table}"`)}`;
    let listed: string[] = [];
    // Visibility is eventually consistent: the actors may take a moment to be listed.
    await eventually(async () => {
      listed = listedWorkflowIds(await renderedDom(page('public.orders')), 'default');
      return listed.includes('table:public.orders') || `the UI lists [${listed.join(', ')}]`;
    }, 60_000);
    assert.ok(!listed.includes('table:public.refunds'), `the filter let another table through: ${listed.join(', ')}`);

    const refunds = listedWorkflowIds(await renderedDom(page('public.refunds')), 'default');
    assert.ok(refunds.includes('table:public.refunds'), `the UI lists [${refunds.join(', ')}]`);
    assert.ok(!refunds.includes('table:public.orders'), refunds.join(', '));
  });
});
