/**
 * Compaction end to end: a streamed table of many small epochs is compacted by `pg-cdc compact` while the stream
 * keeps writing; the lake still equals PostgreSQL through our reader, PyIceberg and DuckDB's iceberg_scan; old
 * snapshots expire with a clear error, retained ones still time-travel; each table has its Temporal Schedule.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { requireTemporalCli } from '../../stack/temporal-cli.js';
import { currentDataFiles } from '../../lake/reader.js';
import { loadTableMetadata } from '../../lake/iceberg/table.js';
import { runCli } from '../support/cli.js';
import { mainCaughtUp } from '../support/main.js';
import { pythonOrSkip, scanWithDuckDbIceberg, scanWithPyIceberg } from '../support/readers.js';
import { freshDatabase, sharedTemporal } from '../support/stack.js';
import {
  eventually,
  lakeAt,
  lakeMetadataPath,
  lakeRows,
  startStream,
  streamConfig,
  type RunningStream,
} from '../support/stream.js';
import type { CompactionReport } from '../../workflows/compaction-messages.js';

type Db = Awaited<ReturnType<typeof freshDatabase>>;
const { python, skip: noPython } = pythonOrSkip();

async function sourceRows(db: Db): Promise<string[]> {
  const rows = await db.sql<{ r: string }>(`SELECT id::text || '=' || balance::text || ':' || note AS r FROM ledger`);
  return rows.map((row) => row.r).sort();
}

async function lakeMatches(db: Db, lake: string): Promise<true | string> {
  const want = await sourceRows(db);
  const got = (
    await lakeRows(lake, 'public.ledger', `d.id::VARCHAR || '=' || d.balance::VARCHAR || ':' || d.note AS r`)
  )
    .map((row) => String(row.r))
    .sort();
  return JSON.stringify(want) === JSON.stringify(got) ? true : `lake has ${got.length} rows, PostgreSQL ${want.length}`;
}

describe('pg-cdc compact', () => {
  let db: Db;
  let config: ReturnType<typeof streamConfig>;
  let stream: RunningStream | undefined;
  const cli = (...args: string[]) => runCli(['--config', config.path, ...args]);

  before(async () => {
    db = await freshDatabase('compact');
    await db.sql(`
      CREATE TABLE ledger (id bigint PRIMARY KEY, balance numeric(12, 2), note text);
      INSERT INTO ledger SELECT g, g, 'n' || g FROM generate_series(1, 2000) g;
    `);
    config = streamConfig({
      url: db.url(),
      prefix: 'compact',
      flushIntervalSec: 0.2,
      extra: [
        'compaction:',
        '  retain_snapshots: 3',
        '  min_small_files: 4',
        '  schedule: 1h',
        'tables:',
        '  tags:',
        '    "public.*": { sensitivity: internal }',
        'governance:',
        '  roles:',
        '    reader: { grant: "sensitivity = internal" }',
      ],
    });
    const init = await cli('init');
    assert.equal(init.code, 0, init.stdout + init.stderr);
    const register = await cli('acl', 'register');
    assert.equal(register.code, 0, register.stdout + register.stderr);
    stream = startStream(config.path);
    await stream.waitForLog(/"msg":"streaming"/);
    // Many small epochs: updates and deletes spread over the table, each its own transaction.
    for (let i = 0; i < 12; i++) {
      await db.sql(`UPDATE ledger SET balance = balance + 1, note = 'u${i}' WHERE id % 12 = ${i}`);
      await db.sql(`DELETE FROM ledger WHERE id = ${100 + i}`);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await eventually(() => lakeMatches(db, config.lake));
  });

  after(async () => {
    await stream?.stop('SIGKILL');
    await cli('teardown', '--yes');
  });

  it('keeps one Temporal Schedule per table, which `temporal schedule list` shows', () => {
    const temporal = sharedTemporal();
    const out = execFileSync(
      requireTemporalCli().path,
      ['schedule', 'list', '--address', temporal.address, '--namespace', temporal.namespace, '-o', 'json'],
      { encoding: 'utf8' },
    );
    const ids = (JSON.parse(out) as { scheduleId: string }[]).map((s) => s.scheduleId);
    assert.ok(ids.includes('compact:public.ledger'), ids.join(', '));
  });

  it('--dry-run reports what is due and changes nothing', async () => {
    const before = (await loadTableMetadata(lakeAt(config.lake).store, lakeAt(config.lake).catalog, 'public.ledger'))
      .metadataKey;
    const dry = await cli('compact', '--table', 'public.ledger', '--dry-run', '--json');
    assert.equal(dry.code, 0, dry.stderr);
    const [report] = JSON.parse(dry.stdout) as CompactionReport[];
    assert.equal(report!.dryRun, true);
    assert.ok(report!.plan.state.due, JSON.stringify(report!.plan.state));
    assert.deepEqual(report!.rewrite.includes('state'), true);
    const after = (await loadTableMetadata(lakeAt(config.lake).store, lakeAt(config.lake).catalog, 'public.ledger'))
      .metadataKey;
    assert.equal(after, before);
  });

  it('tags its workflows with search attributes that `temporal workflow list --query` filters by', async () => {
    const temporal = sharedTemporal();
    const list = (query: string): { execution: { workflowId: string } }[] =>
      JSON.parse(
        execFileSync(
          requireTemporalCli().path,
          [
            'workflow',
            'list',
            '--address',
            temporal.address,
            '--namespace',
            temporal.namespace,
            '-q',
            query,
            '-o',
            'json',
          ],
          { encoding: 'utf8' },
        ) || '[]',
      ) as { execution: { workflowId: string } }[];
    const ids = (query: string): string[] => list(query).map((w) => w.execution.workflowId);
    // Visibility is eventually consistent: the dry run above may take a moment to be listed.
    await eventually(() => {
      const found = ids('PgCdcTable = "public.ledger"');
      const listed = found.includes('table:public.ledger') && found.includes('compact:public.ledger:dry-run');
      return Promise.resolve(listed ? true : found.join(', '));
    });
    assert.deepEqual(ids('PgCdcKind = "table" AND PgCdcTable = "public.ledger"'), ['table:public.ledger']);
    assert.ok(ids(`PgCdcKind = "table" AND PgCdcSlot = "${config.slot}"`).includes('table:public.ledger'));
    assert.ok(!ids('PgCdcKind = "compaction"').includes('table:public.ledger'));
  });

  it('compacts while the stream keeps writing; the lake equals the source in every reader', async () => {
    const lake = lakeAt(config.lake);
    const filesBefore = await currentDataFiles(lake.store, lake.catalog, 'public.ledger');
    const oldest = (await loadTableMetadata(lake.store, lake.catalog, 'public.ledger')).metadata.snapshots[0]!;
    // Writes that land while the rewrite runs: their deletes must carry over onto the new files.
    let writing = true;
    const writer = (async () => {
      for (let n = 0; writing; n++) {
        await db.sql(`UPDATE ledger SET balance = -${n}, note = 'during' WHERE id = ${500 + (n % 50)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const compact = await cli('compact', '--table', 'public.ledger', '--json');
    writing = false;
    await writer;
    assert.equal(compact.code, 0, compact.stdout + compact.stderr);
    const [report] = JSON.parse(compact.stdout) as CompactionReport[];
    const state = report!.result!.commits.find((c) => c.identifier === 'public.ledger');
    assert.ok(state, JSON.stringify(report));
    assert.ok(state.filesRemoved > state.filesAdded, JSON.stringify(state));

    await db.sql(`UPDATE ledger SET note = 'after' WHERE id = 7`);
    await eventually(() => lakeMatches(db, config.lake));
    await mainCaughtUp(lake, ['public.ledger']);
    // --no-deltas reads the compaction's base: the epoch after it is not applied.
    const noteOf7 = async (...flags: string[]): Promise<unknown> => {
      const read = await cli(
        'query',
        '--role',
        'reader',
        '-t',
        'public.ledger',
        '-w',
        'id:eq:7',
        '-f',
        'json',
        ...flags,
      );
      assert.equal(read.code, 0, read.stderr);
      return (JSON.parse(read.stdout) as { note: unknown }[])[0]?.note;
    };
    assert.equal(await noteOf7(), 'after');
    const base = await noteOf7('--no-deltas');
    assert.notEqual(base, 'after');
    assert.notEqual(base, undefined);
    const filesAfter = await currentDataFiles(lake.store, lake.catalog, 'public.ledger');
    // The files compaction replaced are gone from the table (and, above, replaced by fewer). Epochs that landed
    // meanwhile add files of their own, so the total alone can go either way.
    const paths = (files: typeof filesBefore): string[] =>
      [...files.dataFiles, ...files.deleteFiles].map((f) => f.path);
    const before = new Set(paths(filesBefore));
    const kept = paths(filesAfter).filter((path) => before.has(path)).length;
    assert.ok(kept < before.size, `${kept} of ${before.size} files kept`);

    // Expiry kept the newest three snapshots: the first one is gone, with a clear error.
    const expired = await cli(
      'query',
      '--role',
      'reader',
      '-t',
      'public.ledger',
      '--snapshot',
      String(oldest['snapshot-id']),
    );
    assert.equal(expired.code, 2, expired.stdout);
    assert.match(expired.stderr, /SNAPSHOT_NOT_FOUND[\s\S]*oldest readable snapshot is \d+/);
    // A retained snapshot still reads.
    const metadata = (await loadTableMetadata(lake.store, lake.catalog, 'public.ledger')).metadata;
    assert.equal(report!.result!.expired['public.ledger']?.keptSnapshots, 3, JSON.stringify(report!.result!.expired));
    const retained = metadata.snapshots[0]!;
    const travel = await cli(
      'query',
      '--role',
      'reader',
      '-n',
      '5000',
      '-t',
      'public.ledger',
      '--snapshot',
      String(retained['snapshot-id']),
      '-f',
      'json',
    );
    assert.equal(travel.code, 0, travel.stderr);
    // 2000 rows less the 12 deleted before the compaction: updates since changed values, not the count.
    assert.equal((JSON.parse(travel.stdout) as unknown[]).length, 1988);
  });

  it('PyIceberg and DuckDB read the compacted table as PostgreSQL has it', { skip: noPython }, async () => {
    await eventually(() => lakeMatches(db, config.lake));
    await mainCaughtUp(lakeAt(config.lake), ['public.ledger']);
    const want = await sourceRows(db);
    const metadata = await lakeMetadataPath(config.lake, 'public.ledger');
    const row = (r: Record<string, unknown>): string => `${String(r.id)}=${String(r.balance)}:${String(r.note)}`;
    assert.deepEqual(scanWithPyIceberg(python!, metadata).rows.map(row).sort(), want, 'PyIceberg');
    assert.deepEqual(scanWithDuckDbIceberg(python!, metadata).rows.map(row).sort(), want, 'DuckDB iceberg_scan');
  });
});
