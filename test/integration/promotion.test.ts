/**
 * Refs and promotion end to end: in manual mode streamed rows reach `staging` and not `main` until `pg-cdc promote`
 * (and again until a `temporal workflow update`); a promotion while transactions stream gives every table the same
 * cut; PyIceberg reads `main` and a `raw@` tag; readers read `main` unless their role's refs allow `staging`; the
 * API's `main` is the manifest's `main` record; a DROP COLUMN is refused without --force; in auto mode `main`
 * follows each flush.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { parseLsn } from '../../core/lsn/index.js';
import { SUMMARY_KEY } from '../../lake/contract/index.js';
import { rawTags } from '../../lake/iceberg/raw-tags.js';
import { branchHistory, branchSnapshot, hasStaging, headSnapshot } from '../../lake/iceberg/refs.js';
import { loadTableMetadata } from '../../lake/iceberg/table.js';
import { openDuckDB } from '../../lake/parquet/writer.js';
import { currentDataFiles } from '../../lake/reader.js';
import { liveRowsSql } from '../../lake/scan.js';
import { LakeView } from '../../api/service/lake-view.js';
import { resolveRef } from '../../api/service/refs.js';
import { Registry } from '../../governance/registry.js';
import { freePort } from '../../stack/ports.js';
import { requireTemporalCli } from '../../stack/temporal-cli.js';
import { runCli } from '../support/cli.js';
import { pythonOrSkip, scanWithPyIceberg } from '../support/readers.js';
import { freshDatabase, sharedTemporal } from '../support/stack.js';
import { eventually, lakeAt, startStream, streamConfig, type RunningStream } from '../support/stream.js';

type Db = Awaited<ReturnType<typeof freshDatabase>>;
type Branch = 'main' | 'staging';

/** The ids of a table at a branch, sorted. */
async function idsAt(lake: string, table: string, branch: Branch): Promise<number[]> {
  const { store, catalog } = lakeAt(lake);
  const { metadata } = await loadTableMetadata(store, catalog, table);
  const snapshot = branch === 'main' ? branchSnapshot(metadata, 'main') : headSnapshot(metadata);
  return snapshot ? idsOf(lake, table, snapshot['snapshot-id']) : [];
}

/** The ids of a table at a snapshot, sorted. */
async function idsOf(lake: string, table: string, snapshotId: bigint): Promise<number[]> {
  const { store, catalog } = lakeAt(lake);
  const files = await currentDataFiles(store, catalog, table, { snapshotId });
  const sql = liveRowsSql(files, { select: 'd.id' });
  if (!sql) return [];
  const duck = await openDuckDB({ threads: 1 });
  try {
    const rows = (await duck.connection.runAndReadAll(sql)).getRowObjectsJson();
    return rows.map((r) => Number(r.id)).sort((a, b) => a - b);
  } finally {
    duck.close();
  }
}

/** Waits until the slot has acknowledged every table's staging head: a promotion then cuts after all of them. */
async function acknowledged(db: Db, slot: string, lake: string, tables: readonly string[]): Promise<void> {
  const { store, catalog } = lakeAt(lake);
  await eventually(async () => {
    const [row] = await db.sql<{ lsn: string }>(
      'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    );
    for (const table of tables) {
      const head = headSnapshot((await loadTableMetadata(store, catalog, table)).metadata)!;
      if (parseLsn(head.summary[SUMMARY_KEY.lsn]!) >= parseLsn(row!.lsn)) return `${table} not acknowledged yet`;
    }
    return true;
  });
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const { python } = pythonOrSkip();

describe('promotion, manual mode', () => {
  let db: Db;
  let config: ReturnType<typeof streamConfig>;
  let stream: RunningStream | undefined;
  const cli = (...args: string[]) => runCli(['--config', config.path, ...args]);
  const tables = ['public.promo_orders', 'public.promo_items'];
  let metricsUrl: string;

  before(async () => {
    db = await freshDatabase('promo');
    await db.sql(`
      CREATE TABLE promo_orders (id int PRIMARY KEY, amount int, note text);
      CREATE TABLE promo_items (id int PRIMARY KEY, qty int);
      INSERT INTO promo_orders SELECT g, g * 10, 'n' || g FROM generate_series(1, 5) g;
      INSERT INTO promo_items SELECT g, g FROM generate_series(1, 5) g;
      CREATE TABLE promo_notes (id int PRIMARY KEY, body text, extra text);
      INSERT INTO promo_notes VALUES (1, 'b', 'x');
    `);
    metricsUrl = `http://127.0.0.1:${await freePort()}/metrics`;
    config = streamConfig({
      url: db.url(),
      prefix: 'promo',
      extra: [
        'promotion:',
        '  mode: manual',
        'metrics:',
        `  listen: ${new URL(metricsUrl).host}`,
        '  table_labels: true',
        'tables:',
        '  tags:',
        '    "public.*": { sensitivity: internal }',
        'governance:',
        '  roles:',
        '    reader: { grant: "sensitivity = internal" }',
        '    auditor: { grant: "sensitivity = internal", refs: [main, staging] }',
      ],
    });
    const init = await cli('init');
    assert.equal(init.code, 0, init.stdout + init.stderr);
    const register = await cli('acl', 'register');
    assert.equal(register.code, 0, register.stdout + register.stderr);
    stream = startStream(config.path, {}, { metrics: true });
    // The workflow forks staging in every table before main is held back.
    await eventually(async () => {
      const { store, catalog } = lakeAt(config.lake);
      for (const table of tables) {
        if (!hasStaging((await loadTableMetadata(store, catalog, table)).metadata)) return `${table}: no staging yet`;
      }
      return true;
    });
  });

  after(async () => {
    if (stream) assert.equal(await stream.stop(), 0, stream.logs().slice(-3000));
  });

  it('keeps streamed rows in staging, not main, until pg-cdc promote', async () => {
    await db.sql(`
      BEGIN;
      INSERT INTO promo_orders SELECT g, g * 10, 'n' || g FROM generate_series(6, 10) g;
      INSERT INTO promo_items SELECT g, g FROM generate_series(6, 10) g;
      COMMIT;
    `);
    for (const table of tables) {
      await eventually(async () => ((await idsAt(config.lake, table, 'staging')).length === 10 ? true : 'waiting'));
      assert.deepEqual(await idsAt(config.lake, table, 'main'), range(1, 5), `${table} main moved before promotion`);
    }
    // Each flush tagged its state snapshot raw@<time>: the newest tag names staging's head.
    const { store, catalog } = lakeAt(config.lake);
    const orders = (await loadTableMetadata(store, catalog, 'public.promo_orders')).metadata;
    const newestTag = rawTags(orders)[0]!;
    assert.equal(newestTag.snapshotId, headSnapshot(orders)!['snapshot-id']);
    // Readers read main; staging and the tags past main only for a role whose refs list staging.
    const read = async (role: string, ...at: string[]) => {
      const result = await cli('query', '--role', role, '-t', 'public.promo_orders', ...at, '-f', 'json');
      return result.code === 0 ? (JSON.parse(result.stdout) as unknown[]).length : result.stderr;
    };
    assert.equal(await read('reader'), 5);
    assert.match(String(await read('reader', '--ref', 'staging')), /REF_FORBIDDEN: "staging" of public\.promo_orders/);
    assert.match(String(await read('reader', '--ref', newestTag.name)), /REF_FORBIDDEN/);
    assert.match(String(await read('reader', '--snapshot', String(newestTag.snapshotId))), /REF_FORBIDDEN/);
    assert.equal(await read('auditor', '--ref', 'staging'), 10);
    assert.equal(await read('auditor', '--ref', newestTag.name), 10);
    // Any time reads the newest raw tag at or before it.
    const later = `raw@${new Date(newestTag.time + 60_000).toISOString()}`;
    assert.equal(await read('auditor', '--ref', later), 10);
    assert.match(String(await read('auditor', '--ref', 'raw@2000-01-01T00:00:00Z')), /REF_NOT_FOUND.*no raw tag/);
    // The API's `main` ref: before any promotion, each table's main branch; `latest` is the staging heads.
    const view = new LakeView(lakeAt(config.lake));
    const [apiMain, apiLatest] = await Promise.all([resolveRef(view, 'main'), resolveRef(view, 'latest')]);
    const mainEntry = apiMain.manifest.tables['public.promo_orders']!;
    assert.equal(mainEntry.state.snapshot_id, String(branchSnapshot(orders, 'main')!['snapshot-id']));
    assert.equal(mainEntry.row_count, 5);
    assert.equal(apiLatest.manifest.tables['public.promo_orders']!.state.snapshot_id, String(newestTag.snapshotId));
    if (python) {
      const metadataPath = (await lakeAt(config.lake).catalog.loadTable('public.promo_orders')).metadataKey;
      const scan = scanWithPyIceberg(python, `${config.lake}/${metadataPath}`);
      assert.equal(scan.rows.length, 5, 'PyIceberg reads main');
      const tagged = scanWithPyIceberg(python, `${config.lake}/${metadataPath}`, {}, newestTag.name);
      assert.equal(tagged.rows.length, 10, `PyIceberg reads the tag ${newestTag.name}`);
    }

    // `start`'s /metrics: the promotion workflow's checks measure how far main is behind staging.
    const scrape = async () => (await fetch(metricsUrl)).text();
    const sample = (text: string, pattern: RegExp): number => Number(pattern.exec(text)?.[1] ?? NaN);
    await eventually(async () => {
      const lag = sample(await scrape(), /^pgcdc_promotion_lag_snapshots\{table="public\.promo_orders"\} (\d+)$/m);
      return lag > 0 || `promotion lag of public.promo_orders: ${lag}`;
    });

    await acknowledged(db, config.slot, config.lake, tables);
    const promoted = await cli('promote', '--from', 'staging', '--to', 'main', '--reason', 'first batch', '--json');
    assert.equal(promoted.code, 0, promoted.stdout + promoted.stderr);
    const outcome = JSON.parse(promoted.stdout) as { promoted: boolean; diff: { classification: string } };
    assert.equal(outcome.promoted, true);
    assert.equal(outcome.diff.classification, 'safe');
    // The run's artifacts say the same (docs/runs.md).
    const runs = readdirSync(join(config.stateDir, 'runs')).filter((run) => run.startsWith('promote-'));
    const events = readFileSync(join(config.stateDir, 'runs', runs.sort().at(-1)!, 'events.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; promoted?: boolean; classification?: string });
    const recorded = events.find((event) => event.type === 'promotion.outcome');
    assert.equal(recorded?.promoted, true, JSON.stringify(events));
    assert.equal(recorded?.classification, 'safe');
    for (const table of tables) assert.deepEqual(await idsAt(config.lake, table, 'main'), range(1, 10));
    assert.equal(await read('reader'), 10);
    assert.equal(await read('reader', '--ref', newestTag.name), 10, 'a tag on main is promoted: every role reads it');
    if (python) {
      const metadataPath = (await lakeAt(config.lake).catalog.loadTable('public.promo_orders')).metadataKey;
      assert.equal(scanWithPyIceberg(python, `${config.lake}/${metadataPath}`).rows.length, 10, 'PyIceberg reads main');
    }
    const manifest = (await lakeAt(config.lake).manifest.read())!.value;
    assert.equal(manifest.main?.reason, 'first batch');
    // Now the API's `main` is the record's cut.
    const promotedView = (await resolveRef(new LakeView(lakeAt(config.lake)), 'main')).manifest;
    for (const table of tables) {
      assert.equal(promotedView.tables[table]!.state.snapshot_id, manifest.main?.tables[table]?.state_snapshot_id);
      assert.equal(promotedView.tables[table]!.row_count, 10);
    }
    assert.deepEqual(Object.keys(manifest.main?.tables ?? {}).sort(), [...tables, 'public.promo_notes'].sort());
    const registry = Registry.open(`${config.stateDir}/governance.sqlite`);
    const audit = (await registry.audit()).filter((e) => e.action === 'promote');
    await registry.close();
    assert.equal(audit.length, 1);
    assert.equal(audit[0]?.reason, 'first batch');
    // Not `start`'s pgcdc_audit_events_total: the promotion's activity runs on whichever worker polls first, this
    // command's own or `start`'s, and the counter is the process's (the breakglass test checks the counter).
  });

  it('promotes again through temporal workflow update', async () => {
    await db.sql(`INSERT INTO promo_orders VALUES (11, 110, 'n11'); INSERT INTO promo_items VALUES (11, 11);`);
    for (const table of tables) {
      await eventually(async () => ((await idsAt(config.lake, table, 'staging')).length === 11 ? true : 'waiting'));
      assert.deepEqual(await idsAt(config.lake, table, 'main'), range(1, 10));
    }
    await acknowledged(db, config.slot, config.lake, tables);
    const temporal = sharedTemporal();
    const request = { from: 'staging', to: 'main', force: false, dryRun: false, by: 'ops', reason: 'from the CLI' };
    await promisify(execFile)(requireTemporalCli().path, [
      'workflow',
      'update',
      'execute',
      '--address',
      temporal.address,
      '--namespace',
      temporal.namespace,
      '--workflow-id',
      `promote:${db.name}`,
      '--name',
      'promote',
      '--input',
      JSON.stringify(request),
    ]);
    for (const table of tables) assert.deepEqual(await idsAt(config.lake, table, 'main'), range(1, 11));
  });

  it('gives every table the same cut when it promotes while transactions stream', async () => {
    let next = 100;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        const id = next++;
        await db.sql(
          `BEGIN; INSERT INTO promo_orders VALUES (${id}, 1, 'x'); INSERT INTO promo_items VALUES (${id}, 1); COMMIT;`,
        );
      }
    })();
    try {
      await eventually(async () => ((await idsAt(config.lake, tables[0]!, 'staging')).length > 20 ? true : 'waiting'));
      const promoted = await cli('promote', '--reason', 'mid-stream', '--json');
      assert.equal(promoted.code, 0, promoted.stdout + promoted.stderr);
    } finally {
      writing = false;
      await writer;
    }
    const [orders, items] = await Promise.all(tables.map((t) => idsAt(config.lake, t, 'main')));
    assert.ok(orders!.length > 11, 'the promotion moved main');
    const { store, catalog } = lakeAt(config.lake);
    const manifest = (await lakeAt(config.lake).manifest.read())!.value;
    const chains = await Promise.all(
      tables.map(async (t) =>
        branchHistory((await loadTableMetadata(store, catalog, t)).metadata, 'staging')
          .map((s) => `${s.summary[SUMMARY_KEY.epoch]}@${s.summary[SUMMARY_KEY.lsn]}`)
          .join(' '),
      ),
    );
    assert.deepEqual(
      orders,
      items,
      `both tables of main end at one transaction: cut ${manifest.main?.cut_lsn}, ${JSON.stringify(manifest.main?.tables)}, staging ${chains.join(' | ')}`,
    );
    const cut = parseLsn(manifest.main!.cut_lsn);
    for (const table of tables) {
      const main = branchSnapshot((await loadTableMetadata(store, catalog, table)).metadata, 'main')!;
      assert.ok(parseLsn(main.summary[SUMMARY_KEY.lsn]!) < cut, `${table} main is below the cut`);
    }
  });

  it('refuses a DROP COLUMN made while streaming without --force and promotes it with', async () => {
    // pgoutput describes a table's new columns with its next change: the row after the ALTER brings the drop along.
    await db.sql(`ALTER TABLE promo_notes DROP COLUMN extra; INSERT INTO promo_notes VALUES (2, 'c');`);
    const { store, catalog } = lakeAt(config.lake);
    await eventually(async () =>
      (await idsAt(config.lake, 'public.promo_notes', 'staging')).length === 2 ? true : 'waiting',
    );
    const staged = (await loadTableMetadata(store, catalog, 'public.promo_notes')).metadata;
    const dropped = staged.schemas.find((s) => s['schema-id'] === headSnapshot(staged)!['schema-id'])!;
    assert.deepEqual(
      dropped.fields.map((f) => f.name).filter((n) => !n.startsWith('_')),
      ['id', 'body'],
    );
    await acknowledged(db, config.slot, config.lake, ['public.promo_notes']);

    const dryRun = await cli('promote', '--dry-run');
    assert.equal(dryRun.code, 3, dryRun.stdout + dryRun.stderr);
    assert.match(dryRun.stdout, /breaking/);
    assert.match(dryRun.stdout, /public\.promo_notes: breaking.*-extra string/);
    const refused = await cli('promote', '--reason', 'drop note');
    assert.equal(refused.code, 3, refused.stdout + refused.stderr);
    assert.match(refused.stdout, /refused: the diff is breaking \(public\.promo_notes\)/);
    assert.deepEqual(await idsAt(config.lake, 'public.promo_notes', 'main'), [1], 'a refusal moves nothing');
    const mainBefore = branchSnapshot((await loadTableMetadata(store, catalog, 'public.promo_notes')).metadata, 'main');
    const forced = await cli('promote', '--force', '--reason', 'drop note', '--json');
    assert.equal(forced.code, 0, forced.stdout + forced.stderr);
    const after = (await loadTableMetadata(store, catalog, 'public.promo_notes')).metadata;
    assert.notEqual(branchSnapshot(after, 'main')?.['snapshot-id'], mainBefore?.['snapshot-id']);
    assert.equal(branchSnapshot(after, 'main')?.['schema-id'], dropped['schema-id']);
    assert.deepEqual(await idsAt(config.lake, 'public.promo_notes', 'main'), [1, 2]);
    assert.equal((await lakeAt(config.lake).manifest.read())!.value.main?.forced, true);
  });
});

describe('promotion, auto mode', () => {
  let db: Db;
  let config: ReturnType<typeof streamConfig>;
  let stream: RunningStream | undefined;

  before(async () => {
    db = await freshDatabase('promo_auto');
    await db.sql(`CREATE TABLE promo_auto (id int PRIMARY KEY, v text); INSERT INTO promo_auto VALUES (1, 'a');`);
    config = streamConfig({ url: db.url(), prefix: 'promo_auto', flushIntervalSec: 1 });
    const init = await runCli(['--config', config.path, 'init']);
    assert.equal(init.code, 0, init.stdout + init.stderr);
    stream = startStream(config.path);
    await stream.waitForLog(/"msg":"streaming"/);
  });

  after(async () => {
    if (stream) assert.equal(await stream.stop(), 0, stream.logs().slice(-3000));
  });

  it('advances main within one flush', async () => {
    await db.sql(`INSERT INTO promo_auto VALUES (2, 'b')`);
    await eventually(async () =>
      (await idsAt(config.lake, 'public.promo_auto', 'staging')).length === 2 ? true : 'waiting',
    );
    // Within one flush interval of reaching staging, main has it.
    const deadline = Date.now() + 1_000 * 1.5;
    let main: number[] = [];
    while (Date.now() < deadline) {
      main = await idsAt(config.lake, 'public.promo_auto', 'main');
      if (main.length === 2) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(main, [1, 2]);
  });
});
