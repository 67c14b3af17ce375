import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { formatLsn, parseLsn, parseLsnText } from '../../core/lsn/index.js';
import { csvRecord, planTable, type TablePlan } from '../../core/types/index.js';
import type { SourceColumn, SourceTable, SourceType } from '../../core/types/source.js';
import type { Catalog } from '../../lake/catalog/index.js';
import { LocalCatalog } from '../../lake/catalog/local.js';
import { pgcdcSummary, SUMMARY_KEY } from '../../lake/contract/index.js';
import { currentSnapshot } from '../../lake/iceberg/metadata.js';
import { appendFiles, createTable, loadTableMetadata } from '../../lake/iceberg/table.js';
import { ManifestStore, emptyManifest } from '../../lake/manifest.js';
import { openDuckDB, writeParquetFromCsv, type OpenDuckDB } from '../../lake/parquet/writer.js';
import { currentDataFiles } from '../../lake/reader.js';
import { liveRowsSql } from '../../lake/scan.js';
import { commitEpoch, epochSnapshotId, prepareLocator, type EpochContext } from '../../lake/state/index.js';
import { settleLocatorUpdates } from '../../lake/state/locator-updates.js';
import type { ChangeBatch, ChangeCodec, CommittedTransaction } from '../../lake/state/types.js';
import { FilesystemObjectStore } from '../../lake/storage/filesystem.js';
import { pythonOrSkip, scanWithPyIceberg } from '../support/readers.js';

/** A DuckDB JSON value as text (numbers and strings alike). */
const str = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

const root = mkdtempSync(join(tmpdir(), 'pg-cdc-lake-state-'));
let duck: OpenDuckDB;
before(async () => (duck = await openDuckDB({ threads: 2 })));
after(async () => {
  await settleLocatorUpdates(); // they read data files through this DuckDB
  duck.close();
  rmSync(root, { recursive: true, force: true });
});

// ---- source tables, planned the way the snapshot plans them ----

const type = (name: string, typmod = -1, element?: SourceType): SourceType => ({
  oid: 0,
  schema: 'pg_catalog',
  name,
  typmod,
  category: element ? 'A' : 'X',
  isEnum: false,
  ...(element ? { element } : {}),
});
const column = (name: string, t: SourceType, attnum: number, notNull = false): SourceColumn => ({
  name,
  attnum,
  notNull,
  typeOid: 0,
  typmod: t.typmod,
  formatType: t.name,
  dimensions: t.element ? 1 : 0,
  type: t,
});
const NUMERIC_10_2 = ((10 << 16) | 2) + 4;

const ITEMS: SourceTable = {
  schema: 'public',
  name: 'items',
  primaryKey: ['id'],
  columns: [
    column('id', type('int8'), 1, true),
    column('name', type('text'), 2),
    column('note', type('text'), 3),
    column('amount', type('numeric', NUMERIC_10_2), 4),
    column('tags', type('_int4', -1, type('int4')), 5),
  ],
};
const BAGS: SourceTable = {
  schema: 'public',
  name: 'bags',
  primaryKey: [],
  columns: [column('a', type('int4'), 1), column('b', type('text'), 2)],
};
const READINGS: SourceTable = {
  schema: 'public',
  name: 'readings',
  primaryKey: ['code', 'at'],
  columns: [
    column('code', type('numeric', NUMERIC_10_2), 1, true),
    column('at', type('timestamptz'), 2, true),
    column('val', type('text'), 3),
  ],
};

function codecOf(source: SourceTable, plan: TablePlan): ChangeCodec {
  const index = new Map(source.columns.map((c, i) => [c.name, i]));
  const keyed = source.primaryKey.length > 0;
  return {
    columns: plan.columns.map((c) => ({
      fieldId: c.fieldId,
      name: c.parquetName,
      csvType: c.csvType,
      convert: (text: string) => c.convert(text),
      duckdbFieldIds: c.duckdbFieldIds,
    })),
    identity: (keyed ? source.primaryKey.map((n) => index.get(n)!) : source.columns.map((_, i) => i)).map(
      (i) => plan.columns[i]!.fieldId,
    ),
    identityKind: keyed ? 'primary-key' : 'full-row',
  };
}

// ---- CSV in the change format of lake/state/types.ts ----

type Values = Record<string, string | null>;
interface Change {
  readonly op: 'I' | 'U' | 'D' | 'T';
  readonly row?: Values;
  readonly old?: Values;
  readonly unchanged?: readonly string[];
}
// The change spool's CSV (stream/csv.ts): every non-NULL value quoted with `"`.
const spoolField = (v: string | null | undefined): string => (v == null ? '' : `"${v.replace(/"/g, '""')}"`);
const ins = (row: Values): Change => ({ op: 'I', row });
const upd = (row: Values, unchanged: string[] = [], old?: Values): Change => ({
  op: 'U',
  row,
  unchanged,
  ...(old ? { old } : {}),
});
const del = (old: Values): Change => ({ op: 'D', old, row: old });
const trunc = (): Change => ({ op: 'T' });

let files = 0;
let lsn = 0x2000;

async function freshLake(source: SourceTable, baseRows: Values[], options: { catalog?: (c: Catalog) => Catalog } = {}) {
  const dir = join(root, `lake${++files}`);
  const store = new FilesystemObjectStore(join(dir, 'warehouse'));
  const realCatalog = new LocalCatalog(store);
  const catalog = options.catalog ? options.catalog(realCatalog) : realCatalog;
  const manifest = new ManifestStore(store);
  const plan = planTable(source);
  const codec = codecOf(source, plan);
  const identifier = `${source.schema}.${source.name}`;
  const location = `${source.schema}/${source.name}`;
  const names = plan.columns.map((c) => c.name);
  await createTable(store, realCatalog, { identifier, location, schema: plan.schema });
  const csv = join(dir, 'base.csv');
  mkdirSync(dirname(csv), { recursive: true });
  writeFileSync(csv, baseRows.map((r) => csvRecord(names.map((n) => r[n]))).join(''));
  const key = `${location}/data/base-0.parquet`;
  mkdirSync(dirname(store.localPath(key)), { recursive: true });
  const written = await writeParquetFromCsv(duck.connection, {
    input: csv,
    csvColumns: plan.csvColumns(),
    select: plan.duckdbSelect(),
    fieldIds: plan.fieldIds(),
    output: store.localPath(key),
  });
  const base = await appendFiles(store, realCatalog, identifier, {
    dataFiles: [{ path: store.uri(key), ...written }],
    snapshotId: 7n,
    summary: pgcdcSummary({ kind: 'snapshot', epoch: 0, lsn: parseLsnText('0/1000') }),
  });
  await manifest.commit(undefined, {
    ...emptyManifest({ database: 'shop', slot: 'pg_cdc_slot', publication: 'pg_cdc_pub' }),
    tables: {
      [identifier]: {
        state: { metadata_location: base.table.metadataLocation, snapshot_id: '7', schema_id: 0 },
        columns: names,
        primary_key: [...source.primaryKey],
        row_count: baseRows.length,
        epoch: 0,
        committed_lsn: '0/1000',
        schema_version: 0,
      },
    },
  });
  const logLines: string[] = [];
  const ctx: EpochContext = {
    store,
    catalog,
    duckdb: duck.instance,
    locatorDir: join(dir, 'locators'),
    log: pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) }),
    manifest,
  };

  const transaction = (changes: readonly Change[]): { tx: CommittedTransaction; text: string } => {
    const byName = new Map(plan.columns.map((c) => [c.name, c.fieldId]));
    const identityNames = codec.identity.map((id) => plan.columns.find((c) => c.fieldId === id)!.name);
    const xid = String(700 + ++files);
    const lines = changes.map((change, seq) => {
      const unchanged = change.unchanged?.length ? change.unchanged.map((n) => byName.get(n)).join(' ') : null;
      const values = [
        xid,
        String(seq),
        change.op,
        unchanged,
        ...identityNames.map((n) => change.old?.[n] ?? null),
        ...names.map((n) => change.row?.[n] ?? null),
      ];
      return `${values.map(spoolField).join(',')}\n`;
    });
    lsn += 0x100;
    return {
      tx: {
        xid,
        commitLsn: formatLsn(BigInt(lsn)),
        commitTime: '2026-03-01T10:00:00.123456+00:00',
        rows: changes.length,
      },
      text: lines.join(''),
    };
  };
  /**
   * As the spool lays an epoch out, but shuffled: even-numbered transactions share one file, written newest first;
   * odd-numbered ones get a file each; the file list is reversed. Commit order comes from `transactions` alone.
   */
  const batch = (epoch: number, ...transactions: (readonly Change[])[]): ChangeBatch => {
    const written = transactions.map(transaction);
    const spool = join(dir, 'spool', `e${epoch}-${files}`);
    mkdirSync(spool, { recursive: true });
    const paths: string[] = [];
    const shared = written.filter((_, i) => i % 2 === 0).reverse();
    if (shared.length > 0) {
      paths.push(join(spool, 'segment.csv'));
      writeFileSync(paths[0]!, shared.map((w) => w.text).join(''));
    }
    written.forEach((w, i) => {
      if (i % 2 === 0) return;
      const path = join(spool, `t${i}.csv`);
      writeFileSync(path, w.text);
      paths.push(path);
    });
    return { table: identifier, epoch, files: paths.reverse(), transactions: written.map((w) => w.tx) };
  };

  /** Live rows of the current state snapshot through lake/scan.ts, as `a|b|c` strings sorted. */
  const rows = async (): Promise<string[]> => {
    const snapshot = await currentDataFiles(store, realCatalog, identifier);
    const select = plan.columns.map((c) => `CAST(d."${c.parquetName}" AS VARCHAR)`).join(` || '|' || `);
    const sql = liveRowsSql(snapshot, {
      select: `${select.replace(/CAST\(([^)]*) AS VARCHAR\)/g, "coalesce(CAST($1 AS VARCHAR), 'null')")} AS r`,
    });
    if (!sql) return [];
    const reader = await duck.connection.runAndReadAll(`SELECT r FROM (${sql}) ORDER BY r`);
    return reader.getRowsJson().map((r) => str(r[0]));
  };
  return { store, catalog: realCatalog, manifest, plan, codec, identifier, ctx, batch, rows, logLines };
}

const item = (
  id: number,
  name: string,
  note: string | null = `note-${id}`,
  amount = '1.00',
  tags = '["1"]',
): Values => ({
  id: String(id),
  name,
  note,
  amount,
  tags,
});
const row = (id: number, name: string, note = `note-${id}`, amount = '1.00', tags = '[1]'): string =>
  `${id}|${name}|${note}|${amount}|${tags}`;
const baseItems = [1, 2, 3, 4, 5].map((id) => item(id, `item-${id}`));

describe('commitEpoch: the state table', () => {
  it('applies inserts, updates, deletes, a key change and several changes per key in one epoch', async () => {
    const lake = await freshLake(ITEMS, baseItems);
    const batch = lake.batch(
      1,
      [ins(item(6, 'six')), upd(item(1, 'one-b')), del({ id: '2' })],
      [upd(item(30, 'thirty'), [], { id: '3' }), upd(item(6, 'six-b')), upd(item(1, 'one-c', 'note-1', '9.50'))],
      [del({ id: '6' }), ins(item(2, 'two-again', null, '0.10', '[]'))],
    );
    const result = await commitEpoch(lake.ctx, batch, lake.codec);

    assert.deepEqual(await lake.rows(), [
      row(1, 'one-c', 'note-1', '9.50'),
      row(2, 'two-again', 'null', '0.10', '[]'),
      row(30, 'thirty', 'note-30'),
      row(4, 'item-4'),
      row(5, 'item-5'),
    ]);
    assert.equal(result.committed, true);
    assert.equal(result.epoch, 1);
    assert.equal(result.changes, 8);
    assert.equal(result.rowsInserted, 3); // 1, 2, 30: 6 came and went within the epoch
    assert.equal(result.rowsDeleted, 3); // the lake rows of 1, 2 and 3
    assert.equal(result.committedLsn, batch.transactions[2]!.commitLsn);
    assert.equal(result.stateSnapshotId, String(epochSnapshotId('public.items', 1)));
    assert.equal(result.changesSnapshotId, String(epochSnapshotId('public.items__changes', 1)));

    const state = await loadTableMetadata(lake.store, lake.catalog, 'public.items');
    const snapshot = currentSnapshot(state.metadata)!;
    assert.equal(snapshot.summary[SUMMARY_KEY.kind], 'epoch');
    assert.equal(snapshot.summary[SUMMARY_KEY.epoch], '1');
    assert.equal(snapshot.summary[SUMMARY_KEY.lsn], result.committedLsn);
    assert.equal(snapshot.summary['total-records'], '8');
    assert.equal(snapshot.summary['total-position-deletes'], '3');

    // One data file and one position-delete file, sorted, with the spec's field ids.
    const files = await currentDataFiles(lake.store, lake.catalog, 'public.items');
    assert.equal(files.dataFiles.length, 2);
    assert.equal(files.deleteFiles.length, 1);
    const deletes = files.deleteFiles[0]!;
    assert.match(deletes.path, /\/data\/e000001-[0-9a-f]{12}-deletes\.parquet$/);
    const ids = await duck.connection.runAndReadAll(
      `SELECT name, field_id FROM parquet_schema('${deletes.localPath!}') WHERE name IN ('file_path', 'pos') ORDER BY name`,
    );
    assert.deepEqual(
      ids.getRowsJson().map(([name, id]) => `${str(name)}:${str(id)}`),
      ['file_path:2147483546', 'pos:2147483545'],
    );
    const positions = await duck.connection.runAndReadAll(
      `SELECT file_path, pos FROM read_parquet('${deletes.localPath!}') ORDER BY file_row_number`,
    );
    const listed = positions.getRowsJson().map(([path, pos]) => `${str(path)}#${str(pos)}`);
    assert.deepEqual(listed, [...listed].sort());
    assert.ok(
      positions.getRowsJson().every(([path]) => str(path) === files.dataFiles.find((f) => /base-0/.test(f.path))!.path),
    );

    // The manifest names the new snapshots and counts live rows.
    const manifest = (await lake.manifest.read())!.value.tables['public.items']!;
    assert.equal(manifest.epoch, 1);
    assert.equal(manifest.committed_lsn, result.committedLsn);
    assert.equal(manifest.row_count, 5);
    assert.equal(manifest.state.snapshot_id, result.stateSnapshotId);
    assert.equal(manifest.changes?.snapshot_id, result.changesSnapshotId);

    // An independent reader applies the deletes the same way.
    const { python } = pythonOrSkip();
    if (python) {
      const scan = scanWithPyIceberg(python, state.metadataLocation);
      const seen = scan.rows.map((r) => `${String(r.id)}|${String(r.name)}|${String(r.amount)}`).sort();
      assert.deepEqual(seen, ['1|one-c|9.50', '2|two-again|0.10', '30|thirty|1.00', '4|item-4|1.00', '5|item-5|1.00']);
      assert.equal(scan.summary[SUMMARY_KEY.epoch], '1');
    }
  });

  it('writes every change to the changelog as received, with its transaction and position', async () => {
    const lake = await freshLake(ITEMS, baseItems);
    const batch = lake.batch(1, [upd(item(1, 'one-b', null), ['note']), del({ id: '2', name: 'item-2' })], [trunc()]);
    await commitEpoch(lake.ctx, batch, lake.codec);
    const changelog = await currentDataFiles(lake.store, lake.catalog, 'public.items__changes');
    assert.equal(changelog.dataFiles.length, 1);
    const reader = await duck.connection.runAndReadAll(
      `SELECT _op, _commit_lsn, strftime(_commit_ts AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S.%f'), _xid, _seq, ` +
        `_unchanged_toast, id, name, note FROM read_parquet('${changelog.dataFiles[0]!.localPath!}') ORDER BY _commit_lsn, _seq`,
    );
    const lsnOf = (i: number): string => String(parseLsn(batch.transactions[i]!.commitLsn));
    assert.deepEqual(reader.getRowsJson(), [
      ['update', lsnOf(0), '2026-03-01 10:00:00.123456', batch.transactions[0]!.xid, '0', ['note'], '1', 'one-b', null],
      ['delete', lsnOf(0), '2026-03-01 10:00:00.123456', batch.transactions[0]!.xid, '1', null, '2', 'item-2', null],
      ['truncate', lsnOf(1), '2026-03-01 10:00:00.123456', batch.transactions[1]!.xid, '0', null, null, null, null],
    ]);
    const schema = await duck.connection.runAndReadAll(
      `SELECT name, field_id FROM parquet_schema('${changelog.dataFiles[0]!.localPath!}') WHERE field_id IS NOT NULL ORDER BY field_id`,
    );
    assert.deepEqual(
      schema.getRowsJson().map(([name, id]) => `${str(name)}:${str(id)}`),
      [
        '_op:1',
        '_commit_lsn:2',
        '_commit_ts:3',
        '_xid:4',
        '_seq:5',
        '_unchanged_toast:6',
        'id:7',
        'name:8',
        'note:9',
        'amount:10',
        'tags:11',
        'element:12',
        'element:1000000000',
      ],
    );
  });

  it('takes unchanged TOAST values from the batch, else from the lake row, across epochs', async () => {
    const lake = await freshLake(ITEMS, baseItems);
    await commitEpoch(
      lake.ctx,
      lake.batch(
        1,
        [upd(item(1, 'one-b', null), ['note']), upd(item(2, 'two-b', 'fresh-2'))],
        [upd(item(2, 'two-c', null), ['note']), upd(item(40, 'forty', null), ['note'], { id: '4' })],
        [upd(item(2, 'two-d', null, '3.00'), ['note']), upd(item(40, 'forty-b', null, '4.00', '[]'), ['note', 'tags'])],
      ),
      lake.codec,
    );
    assert.deepEqual(await lake.rows(), [
      row(1, 'one-b', 'note-1'),
      row(2, 'two-d', 'fresh-2', '3.00'),
      row(3, 'item-3'),
      row(40, 'forty-b', 'note-4', '4.00'),
      row(5, 'item-5'),
    ]);
    // Epoch 2 finds the rows the first epoch wrote, in the epoch's own file.
    await commitEpoch(
      lake.ctx,
      lake.batch(2, [upd(item(2, 'two-e', null), ['note']), upd(item(1, 'one-c', null), ['note'])]),
      lake.codec,
    );
    assert.deepEqual((await lake.rows()).slice(0, 2), [row(1, 'one-c', 'note-1'), row(2, 'two-e', 'fresh-2', '1.00')]);
  });

  it('a truncate keeps only what came after it, and the next epoch builds on that', async () => {
    const lake = await freshLake(ITEMS, baseItems);
    const result = await commitEpoch(
      lake.ctx,
      lake.batch(
        1,
        [upd(item(1, 'one-b')), ins(item(6, 'six'))],
        [trunc()],
        [ins(item(7, 'seven')), ins(item(1, 'one-new'))],
        [upd(item(7, 'seven-b', null), ['note'])],
      ),
      lake.codec,
    );
    assert.deepEqual(await lake.rows(), [row(1, 'one-new'), row(7, 'seven-b', 'note-7')]);
    assert.equal(result.rowsDeleted, 0);
    const files = await currentDataFiles(lake.store, lake.catalog, 'public.items');
    assert.equal(files.dataFiles.length, 1);
    assert.equal(files.deleteFiles.length, 0);
    const summary = files.snapshot!.summary;
    assert.equal(summary['deleted-data-files'], '1');
    assert.equal(summary['total-records'], '2');
    assert.equal(summary[SUMMARY_KEY.truncated], 'true');
    const { python } = pythonOrSkip();
    if (python) {
      // The removed files are DELETED entries of the truncating snapshot: another reader sees only the new rows.
      const state = await loadTableMetadata(lake.store, lake.catalog, 'public.items');
      const scan = scanWithPyIceberg(python, state.metadataLocation);
      assert.deepEqual(scan.rows.map((r) => `${str(r.id)}|${str(r.name)}`).sort(), ['1|one-new', '7|seven-b']);
    }

    await commitEpoch(lake.ctx, lake.batch(2, [upd(item(7, 'seven-c')), del({ id: '1' })]), lake.codec);
    assert.deepEqual(await lake.rows(), [row(7, 'seven-c')]);
  });

  it("'full-row' identity is a multiset: a delete removes exactly one equal row", async () => {
    const lake = await freshLake(BAGS, [
      { a: '1', b: 'x' },
      { a: '1', b: 'x' },
      { a: '2', b: 'y' },
      { a: '5', b: 'long' },
    ]);
    const result = await commitEpoch(
      lake.ctx,
      lake.batch(
        1,
        [del({ a: '1', b: 'x' }), ins({ a: '2', b: 'y' })],
        [upd({ a: '3', b: 'z' }, [], { a: '2', b: 'y' }), ins({ a: '4', b: 'w' }), del({ a: '4', b: 'w' })],
        [upd({ a: '6', b: null }, ['b'], { a: '5', b: 'long' })],
      ),
      lake.codec,
    );
    assert.deepEqual(await lake.rows(), ['1|x', '2|y', '3|z', '6|long']);
    assert.equal(result.rowsDeleted, 2);
    await commitEpoch(lake.ctx, lake.batch(2, [del({ a: '1', b: 'x' }), del({ a: '6', b: 'long' })]), lake.codec);
    assert.deepEqual(await lake.rows(), ['2|y', '3|z']);
  });

  it('identities compare on typed values: 1.5 and 1.50, one instant at two offsets', async () => {
    const lake = await freshLake(READINGS, [
      { code: '1.50', at: '2026-01-01 00:00:00+00', val: 'v0' },
      { code: '2.00', at: '2026-01-01 00:00:00+00', val: 'w0' },
    ]);
    await commitEpoch(
      lake.ctx,
      lake.batch(1, [
        upd({ code: '1.5', at: '2026-01-01 02:00:00+02', val: 'v1' }),
        del({ code: '2', at: '2025-12-31 19:00:00-05' }),
      ]),
      lake.codec,
    );
    const rows = await lake.rows();
    assert.equal(rows.length, 1);
    assert.match(rows[0]!, /^1\.50\|.*\|v1$/);
  });
});

describe('commitEpoch: against a model', () => {
  /**
   * Six epochs of random changes against a model replayed in memory. With `toast`, updates may leave the note
   * unchanged and epochs 3 and 5 truncate: those epochs go through the resolver (resolve.ts); without, every epoch
   * is resolved in DuckDB.
   */
  const againstModel = async (options: { toast: boolean; seed: number }): Promise<Lake> => {
    const lake = await freshLake(ITEMS, baseItems);
    let seed = options.seed;
    const rand = (n: number): number => {
      // mulberry32: a fixed seed makes the run repeatable
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    const model = new Map(baseItems.map((v) => [Number(v.id), { name: v.name!, note: v.note!, amount: v.amount! }]));
    for (let epoch = 1; epoch <= 6; epoch++) {
      const transactions: Change[][] = [[], [], []];
      for (let i = 0; i < 45; i++) {
        const tx = transactions[Math.floor(i / 15)]!; // commit order is generation order
        const live = [...model.keys()];
        const free = (): number => {
          for (;;) {
            const id = 1 + rand(60);
            if (!model.has(id)) return id;
          }
        };
        const truncate = options.toast && ((epoch === 3 && i === 20) || (epoch === 5 && i === 44));
        const choice = truncate ? 100 : live.length === 0 ? 0 : rand(100);
        if (choice < 25) {
          const id = free();
          const value = { name: `n${epoch}-${i}`, note: `t${epoch}-${i}`, amount: `${rand(100)}.25` };
          model.set(id, value);
          tx.push(ins(item(id, value.name, value.note, value.amount)));
        } else if (choice < 70) {
          const id = live[rand(live.length)]!;
          const keep = options.toast && rand(2) === 0;
          const value = { ...model.get(id)!, name: `u${epoch}-${i}`, ...(keep ? {} : { note: `t${epoch}-${i}` }) };
          model.set(id, value);
          tx.push(upd(item(id, value.name, keep ? null : value.note, value.amount), keep ? ['note'] : []));
        } else if (choice < 80) {
          const [from, to] = [live[rand(live.length)]!, free()];
          const value = { ...model.get(from)!, name: `k${epoch}-${i}` };
          model.delete(from);
          model.set(to, value);
          const change = options.toast
            ? upd(item(to, value.name, null, value.amount), ['note'], { id: String(from) })
            : upd(item(to, value.name, value.note, value.amount), [], { id: String(from) });
          tx.push(change);
        } else if (choice < 100) {
          const id = live[rand(live.length)]!;
          model.delete(id);
          tx.push(del({ id: String(id) }));
        } else {
          model.clear();
          tx.push(trunc());
        }
      }
      if (epoch === 4) {
        await settleLocatorUpdates();
        rmSync(lake.ctx.locatorDir, { recursive: true, force: true });
      }
      await commitEpoch(lake.ctx, lake.batch(epoch, ...transactions), lake.codec);
      const expected = [...model.entries()].map(([id, v]) => row(id, v.name, v.note, v.amount)).sort();
      assert.deepEqual(await lake.rows(), expected, `after epoch ${epoch}`);
    }
    return lake;
  };
  const resolvers = (lake: Lake): string[] =>
    lake.logLines
      .map((line) => JSON.parse(line) as { msg: string; resolver?: string })
      .filter((line) => line.msg === 'epoch committed')
      .map((line) => line.resolver ?? 'none');

  it('random inserts, updates (TOAST, key changes), deletes and truncates match a plain replay', async () => {
    const lake = await againstModel({ toast: true, seed: 7 });
    assert.ok(resolvers(lake).includes('memory'));
  });

  for (const seed of [11, 12, 13]) {
    it(`random inserts, updates (key changes), deletes resolved in DuckDB match a plain replay (seed ${seed})`, async () => {
      const lake = await againstModel({ toast: false, seed });
      assert.deepEqual(resolvers(lake), Array(6).fill('duckdb'));
    });
  }
});

/** A catalog that fails one commit of `table`, before or after the pointer moved: a crash at that point. */
function crashingCatalog(table: string, when: 'before' | 'after') {
  let armed = true;
  return (inner: Catalog): Catalog => ({
    createTable: (identifier, t) => inner.createTable(identifier, t),
    loadTable: (identifier) => inner.loadTable(identifier),
    listTables: (namespace) => inner.listTables(namespace),
    dropTable: (identifier) => inner.dropTable(identifier),
    async commitTable(identifier, expected, next) {
      const crash = armed && identifier === table;
      if (crash) armed = false;
      if (crash && when === 'before') throw new Error('simulated crash before the state commit');
      await inner.commitTable(identifier, expected, next);
      if (crash) throw new Error('simulated crash after the state commit');
    },
  });
}

type Lake = Awaited<ReturnType<typeof freshLake>>;

/** Epoch 1 of the crash tests: an update and a delete, then an insert, in two transactions. */
const crashEpoch = (lake: Lake): ChangeBatch =>
  lake.batch(1, [upd(item(1, 'one-b')), del({ id: '2' })], [ins(item(9, 'nine'))]);

/** The retry after a crash commits crashEpoch whole: the state, one changelog file of its 3 changes, the manifest. */
async function retryCommitsCrashEpoch(lake: Lake, batch: ChangeBatch): Promise<void> {
  const result = await commitEpoch(lake.ctx, batch, lake.codec);
  assert.equal(result.committed, true);
  assert.deepEqual(await lake.rows(), [
    row(1, 'one-b'),
    row(3, 'item-3'),
    row(4, 'item-4'),
    row(5, 'item-5'),
    row(9, 'nine'),
  ]);
  const changelog = await currentDataFiles(lake.store, lake.catalog, 'public.items__changes');
  assert.equal(changelog.snapshot!.summary['total-records'], '3');
  assert.equal(changelog.dataFiles.length, 1);
  assert.equal((await lake.manifest.read())!.value.tables['public.items']!.epoch, 1);
}

describe('commitEpoch: retries, crashes and the locator', () => {
  it('a repeated call commits nothing and returns the first result', async () => {
    const lake = await freshLake(ITEMS, baseItems);
    const batch = lake.batch(1, [upd(item(1, 'one-b')), del({ id: '2' }), ins(item(9, 'nine'))]);
    const first = await commitEpoch(lake.ctx, batch, lake.codec);
    const keys = await lake.store.list('');
    const again = await commitEpoch(lake.ctx, batch, lake.codec);
    assert.deepEqual(again, { ...first, committed: false });
    assert.deepEqual(await lake.store.list(''), keys);
  });

  it('after a crash between the changelog and the state commit, the retry finishes without duplicates', async () => {
    const lake = await freshLake(ITEMS, baseItems, { catalog: crashingCatalog('public.items', 'before') });
    const batch = crashEpoch(lake);
    await assert.rejects(commitEpoch(lake.ctx, batch, lake.codec), /simulated crash before/);
    const changes = await loadTableMetadata(lake.store, lake.catalog, 'public.items__changes');
    assert.equal(changes.metadata.snapshots.length, 1);
    assert.equal((await lake.manifest.read())!.value.tables['public.items']!.epoch, 0);

    await retryCommitsCrashEpoch(lake, batch);
  });

  it('a failed changelog commit keeps the state uncommitted; the retry commits both', async () => {
    const lake = await freshLake(ITEMS, baseItems, { catalog: crashingCatalog('public.items__changes', 'before') });
    const batch = crashEpoch(lake);
    await assert.rejects(commitEpoch(lake.ctx, batch, lake.codec), /simulated crash before/);
    const state = await loadTableMetadata(lake.store, lake.catalog, 'public.items');
    assert.equal(currentSnapshot(state.metadata)!.summary[SUMMARY_KEY.epoch], '0');
    // The epoch's events table, shared by its two connections, is gone with the failed attempt.
    const connection = await lake.ctx.duckdb.connect();
    try {
      const left = await connection.runAndReadAll(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'epoch_events_%'",
      );
      assert.equal(Number(left.getRowsJS()[0]![0]), 0);
    } finally {
      connection.closeSync();
    }

    await retryCommitsCrashEpoch(lake, batch);
  });

  it('after a crash right after the state commit, the retry catches up the manifest and the locator is rebuilt', async () => {
    const lake = await freshLake(ITEMS, baseItems, { catalog: crashingCatalog('public.items', 'after') });
    const batch = lake.batch(1, [upd(item(1, 'one-b')), ins(item(9, 'nine'))]);
    await assert.rejects(commitEpoch(lake.ctx, batch, lake.codec), /simulated crash after/);
    assert.equal((await lake.manifest.read())!.value.tables['public.items']!.epoch, 0);

    const retried = await commitEpoch(lake.ctx, batch, lake.codec);
    assert.equal(retried.committed, false);
    assert.equal(retried.rowsInserted, 2);
    assert.equal(retried.rowsDeleted, 1);
    assert.equal((await lake.manifest.read())!.value.tables['public.items']!.epoch, 1);

    // The locator still describes the base snapshot: epoch 2 must notice and rebuild it.
    await commitEpoch(
      lake.ctx,
      lake.batch(2, [upd(item(9, 'nine-b')), upd(item(1, 'one-c')), del({ id: '3' })]),
      lake.codec,
    );
    assert.ok(lake.logLines.some((line) => line.includes('locator rebuilt')));
    assert.deepEqual(await lake.rows(), [
      row(1, 'one-c'),
      row(2, 'item-2'),
      row(4, 'item-4'),
      row(5, 'item-5'),
      row(9, 'nine-b'),
    ]);
  });

  it('rebuilds a deleted locator from the lake, deletes applied', async () => {
    const lake = await freshLake(ITEMS, baseItems);
    const rebuilds = (): number => lake.logLines.filter((line) => line.includes('locator rebuilt')).length;
    await prepareLocator(lake.ctx, 'public.items', lake.codec); // built ahead of the first epoch
    await prepareLocator(lake.ctx, 'public.items', lake.codec);
    assert.equal(rebuilds(), 1);
    await commitEpoch(
      lake.ctx,
      lake.batch(1, [upd(item(1, 'one-b')), del({ id: '2' }), ins(item(9, 'nine'))]),
      lake.codec,
    );
    assert.equal(rebuilds(), 1);
    await settleLocatorUpdates(); // epoch 1's locator update, which runs after the epoch returned
    rmSync(lake.ctx.locatorDir, { recursive: true, force: true });
    await commitEpoch(
      lake.ctx,
      lake.batch(2, [upd(item(1, 'one-c', null), ['note']), upd(item(9, 'nine-b')), ins(item(2, 'two-new'))]),
      lake.codec,
    );
    assert.equal(rebuilds(), 2);
    assert.deepEqual(await lake.rows(), [
      row(1, 'one-c'),
      row(2, 'two-new'),
      row(3, 'item-3'),
      row(4, 'item-4'),
      row(5, 'item-5'),
      row(9, 'nine-b'),
    ]);
    // And the epoch after that uses the rebuilt locator without rebuilding again.
    await commitEpoch(lake.ctx, lake.batch(3, [del({ id: '9' })]), lake.codec);
    assert.equal(rebuilds(), 2);
    assert.equal((await lake.rows()).length, 5);
  });

  it('an epoch without transactions advances the epoch and keeps the committed LSN', async () => {
    const lake = await freshLake(ITEMS, baseItems);
    const result = await commitEpoch(lake.ctx, lake.batch(1), lake.codec);
    assert.equal(result.committedLsn, '0/1000');
    assert.equal(result.changes, 0);
    assert.equal((await lake.rows()).length, 5);
    const state = await loadTableMetadata(lake.store, lake.catalog, 'public.items');
    assert.equal(currentSnapshot(state.metadata)!.summary[SUMMARY_KEY.epoch], '1');
    await commitEpoch(lake.ctx, lake.batch(2, [del({ id: '5' })]), lake.codec);
    assert.equal((await lake.rows()).length, 4);
  });

  it('refuses an epoch that skips one, and transactions at or below the committed LSN', async () => {
    const lake = await freshLake(ITEMS, baseItems);
    await assert.rejects(commitEpoch(lake.ctx, lake.batch(2, [ins(item(9, 'nine'))]), lake.codec), {
      code: 'EPOCH_GAP',
    });
    const stale: ChangeBatch = {
      table: 'public.items',
      epoch: 1,
      files: ['/nonexistent.csv'],
      transactions: [{ xid: '1', commitLsn: parseLsnText('0/1000'), commitTime: '2026-03-01T10:00:00Z', rows: 1 }],
    };
    await assert.rejects(commitEpoch(lake.ctx, stale, lake.codec), { code: 'EPOCH_MISMATCH' });
    const state = await loadTableMetadata(lake.store, lake.catalog, 'public.items');
    assert.equal(state.metadata.snapshots.length, 1);
  });

  it('refuses an epoch whose files do not hold the rows its transactions announce', async () => {
    const lake = await freshLake(ITEMS, baseItems);
    const written = lake.batch(1, [ins(item(9, 'nine'))]);
    const withoutFiles: ChangeBatch = { ...written, files: [] };
    await assert.rejects(commitEpoch(lake.ctx, withoutFiles, lake.codec), { code: 'EPOCH_BATCH_INVALID' });
    const overstated: ChangeBatch = {
      ...written,
      transactions: written.transactions.map((tx) => ({ ...tx, rows: tx.rows + 1 })),
    };
    await assert.rejects(commitEpoch(lake.ctx, overstated, lake.codec), { code: 'EPOCH_BATCH_INVALID' });
    const state = await loadTableMetadata(lake.store, lake.catalog, 'public.items');
    assert.equal(state.metadata.snapshots.length, 1);
    await commitEpoch(lake.ctx, written, lake.codec);
    assert.equal((await lake.rows()).length, baseItems.length + 1);
  });
});
