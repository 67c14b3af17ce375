import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseLsnText } from '../../core/lsn/index.js';
import { pino } from 'pino';
import { csvRecord, planTable } from '../../core/types/index.js';
import type { SourceColumn, SourceTable } from '../../core/types/source.js';
import { currentSnapshot } from '../../lake/iceberg/metadata.js';
import { loadTableMetadata } from '../../lake/iceberg/table.js';
import type { ManifestTable } from '../../lake/manifest.js';
import { openLake, type Lake } from '../../lake/open.js';
import { openDuckDB, writeParquetFromCsv, type OpenDuckDB } from '../../lake/parquet/writer.js';
import { SUMMARY_KEY, tableLocation } from '../../lake/contract/index.js';
import { commitBase, commitEpoch } from '../../lake/state/index.js';
import { settleLocatorUpdates } from '../../lake/state/locator-updates.js';
import { baseSnapshotId } from '../../lake/state/naming.js';
import type { ChangeBatch, ChangeCodec } from '../../lake/state/types.js';

/**
 * The base snapshot and the epochs are recorded in pg-cdc's manifest by one entry writer: for the same table both
 * derive the columns, the primary key, the schema version and the live row count the same way.
 */
const root = mkdtempSync(join(tmpdir(), 'pg-cdc-lake-base-'));
const log = pino({ level: 'silent' });
let duck: OpenDuckDB;
before(async () => (duck = await openDuckDB({ threads: 1 })));
after(async () => {
  await settleLocatorUpdates();
  duck.close();
  rmSync(root, { recursive: true, force: true });
});

const text = { oid: 0, schema: 'pg_catalog', name: 'text', typmod: -1, category: 'S', isEnum: false };
const int8 = { ...text, name: 'int8', category: 'N' };
const column = (name: string, type: typeof text, attnum: number, notNull = false): SourceColumn => ({
  name,
  attnum,
  notNull,
  typeOid: 0,
  typmod: -1,
  formatType: type.name,
  dimensions: 0,
  type,
});

// The key is not the first column, so a derivation that took the first field or the field order would show.
const ITEMS: SourceTable = {
  schema: 'public',
  name: 'items',
  primaryKey: ['id'],
  columns: [column('name', text, 1), column('id', int8, 2, true)],
};
const BAGS: SourceTable = {
  schema: 'public',
  name: 'bags',
  primaryKey: [],
  columns: [column('a', int8, 1), column('b', text, 2)],
};

let lakes = 0;

/** A lake holding `source` committed as its base snapshot with `rows` (values in column order). */
async function baseLake(source: SourceTable, rows: readonly (readonly string[])[]) {
  const dir = join(root, `lake${++lakes}`);
  const lake = openLake({ storage: { type: 'filesystem', path: join(dir, 'warehouse') }, catalog: { type: 'local' } });
  const plan = planTable(source);
  const identifier = `${source.schema}.${source.name}`;
  const location = tableLocation(source.schema, source.name);
  const csv = join(dir, 'base.csv');
  mkdirSync(dirname(csv), { recursive: true });
  writeFileSync(csv, rows.map((row) => csvRecord(row)).join(''));
  const key = `${location}/data/base-0.parquet`;
  const output = lake.store.localPath(key)!;
  mkdirSync(dirname(output), { recursive: true });
  const written = await writeParquetFromCsv(duck.connection, {
    input: csv,
    csvColumns: plan.csvColumns(),
    select: plan.duckdbSelect(),
    fieldIds: plan.fieldIds(),
    output,
  });
  const commit = {
    identifier,
    location,
    schema: plan.schema,
    files: [{ path: lake.store.uri(key), ...written }],
    lsn: parseLsnText('0/1000'),
    slot: 'pg_cdc_slot',
    primaryKey: source.primaryKey,
    source: { database: 'shop', host: 'db.internal', publication: 'pg_cdc_pub' },
  };
  const snapshotId = await commitBase({ ...lake, log }, commit);
  const keyed = source.primaryKey.length > 0;
  const byName = new Map(plan.columns.map((c) => [c.name, c.fieldId]));
  const codec: ChangeCodec = {
    columns: plan.columns.map((c) => ({
      fieldId: c.fieldId,
      name: c.parquetName,
      csvType: c.csvType,
      convert: (value: string) => c.convert(value),
      duckdbFieldIds: c.duckdbFieldIds,
    })),
    identity: (keyed ? source.primaryKey : source.columns.map((c) => c.name)).map((name) => byName.get(name)!),
    identityKind: keyed ? 'primary-key' : 'full-row',
  };
  return { dir, lake, plan, identifier, commit, snapshotId, codec, retry: () => commitBase({ ...lake, log }, commit) };
}

/** Epoch 1 of one transaction: `I` rows inserted, `D` rows deleted (values in column order). */
function epochOne(
  dir: string,
  table: string,
  codec: ChangeCodec,
  changes: readonly { op: 'I' | 'D'; row: readonly string[] }[],
): ChangeBatch {
  const field = (v: string | null): string => (v === null ? '' : `"${v.replace(/"/g, '""')}"`);
  const position = new Map(codec.columns.map((c, i) => [c.fieldId, i]));
  const lines = changes.map(({ op, row }, seq) => {
    const old = codec.identity.map((id) => (op === 'D' ? row[position.get(id)!]! : null));
    return `${['701', String(seq), op, null, ...old, ...row].map(field).join(',')}\n`;
  });
  const file = join(dir, 'spool', 'e1.csv');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, lines.join(''));
  const transactions = [
    {
      xid: '701',
      commitLsn: parseLsnText('0/2000'),
      commitTime: '2026-03-01T10:00:00.123456+00:00',
      rows: changes.length,
    },
  ];
  return { table, epoch: 1, files: [file], transactions };
}

async function entryOf(lake: Lake, identifier: string): Promise<ManifestTable> {
  const entry = (await lake.manifest.read())?.value.tables[identifier];
  assert.ok(entry, `the manifest has an entry for ${identifier}`);
  return entry;
}

/** Removes the table's entry, so that the next writer derives every field itself instead of finding it there. */
async function forgetEntry(lake: Lake, identifier: string): Promise<void> {
  await lake.manifest.update((current) => {
    const tables = { ...current!.tables };
    delete tables[identifier];
    return { ...current!, tables };
  });
}

describe('the base commit and the manifest entry writer', () => {
  it('records the base: columns, primary key, live rows, epoch 0 at the consistent point, the source', async () => {
    const t = await baseLake(ITEMS, [
      ['one', '1'],
      ['two', '2'],
      ['three', '3'],
    ]);
    assert.equal(t.snapshotId, String(baseSnapshotId('public.items', '0/1000')));
    const state = await loadTableMetadata(t.lake.store, t.lake.catalog, 'public.items');
    assert.equal(currentSnapshot(state.metadata)!.summary[SUMMARY_KEY.kind], 'snapshot');
    const entry = await entryOf(t.lake, 'public.items');
    assert.deepEqual(entry, {
      state: { metadata_location: state.metadataLocation, snapshot_id: t.snapshotId, schema_id: 0 },
      columns: ['name', 'id'],
      primary_key: ['id'],
      row_count: 3,
      epoch: 0,
      committed_lsn: '0/1000',
      schema_version: 0,
    });
    const manifest = (await t.lake.manifest.read())!.value;
    assert.equal(manifest.source.slot, 'pg_cdc_slot');
    assert.equal(manifest.source.consistent_point_lsn, '0/1000');
    assert.equal(manifest.source.publication, 'pg_cdc_pub');
  });

  it('a retried base commit finds its snapshot and leaves the manifest as it was', async () => {
    const t = await baseLake(ITEMS, [['one', '1']]);
    const before = await t.lake.manifest.read();
    assert.equal(await t.retry(), t.snapshotId);
    const again = await t.lake.manifest.read();
    assert.equal(again!.version, before!.version);
    const state = await loadTableMetadata(t.lake.store, t.lake.catalog, 'public.items');
    assert.equal(state.metadata.snapshots.length, 1);
  });

  for (const [source, rows, deleted, inserted] of [
    [
      ITEMS,
      [
        ['one', '1'],
        ['two', '2'],
        ['three', '3'],
      ],
      ['two', '2'],
      [
        ['four', '4'],
        ['five', '5'],
      ],
    ],
    [
      BAGS,
      [
        ['1', 'x'],
        ['1', 'x'],
        ['2', 'y'],
      ],
      ['1', 'x'],
      [
        ['3', 'z'],
        ['2', 'y'],
      ],
    ],
  ] as const) {
    it(`base and epoch write the same entry for ${source.name} (${source.primaryKey.length ? 'primary key' : 'full row'})`, async () => {
      const t = await baseLake(source, rows);
      const base = await entryOf(t.lake, t.identifier);
      await forgetEntry(t.lake, t.identifier);
      const batch = epochOne(t.dir, t.identifier, t.codec, [
        { op: 'D', row: deleted },
        ...inserted.map((row) => ({ op: 'I' as const, row })),
      ]);
      const result = await commitEpoch(
        { ...t.lake, duckdb: duck.instance, locatorDir: join(t.dir, 'locators'), log },
        batch,
        t.codec,
      );
      const epoch = await entryOf(t.lake, t.identifier);
      assert.deepEqual(Object.keys(epoch).sort(), [...Object.keys(base), 'changes'].sort());
      assert.deepEqual(epoch.columns, base.columns);
      assert.deepEqual(epoch.primary_key, base.primary_key);
      assert.deepEqual(epoch.primary_key, [...source.primaryKey]);
      assert.equal(epoch.schema_version, base.schema_version);
      assert.equal(epoch.state.schema_id, base.state.schema_id);
      // Live rows of the state snapshot: the base's three, one deleted, two inserted.
      assert.equal(epoch.row_count, rows.length - 1 + 2);
      assert.equal(epoch.epoch, 1);
      assert.equal(epoch.committed_lsn, '0/2000');
      assert.equal(epoch.state.snapshot_id, result.stateSnapshotId);
      assert.equal(epoch.changes!.snapshot_id, result.changesSnapshotId);
    });
  }
});
