import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { LocalCatalog } from '../../lake/catalog/local.js';
import { CHANGELOG_ORDER, SUMMARY_KEY } from '../../lake/contract/index.js';
import { commitRewrite, CompactionStaleError } from '../../lake/compaction/commit.js';
import { rewriteTable } from '../../lake/compaction/rewrite.js';
import { currentSnapshot } from '../../lake/iceberg/metadata.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import { appendFiles, createTable, loadTableMetadata, type DataFile } from '../../lake/iceberg/table.js';
import { currentDataFiles } from '../../lake/reader.js';
import { liveRowsSql } from '../../lake/scan.js';
import { copyToLake } from '../../lake/state/duck.js';
import { POSITION_DELETE_FIELD_IDS } from '../../lake/state/state-sql.js';
import { FilesystemObjectStore } from '../../lake/storage/filesystem.js';
import { tempDir } from '../support/temp.js';

const schema: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  'identifier-field-ids': [1],
  fields: [
    { id: 1, name: 'id', required: true, type: 'long' },
    { id: 2, name: 'v', required: false, type: 'string' },
    {
      id: 3,
      name: 'tags',
      required: false,
      type: { type: 'list', 'element-id': 4, element: 'int', 'element-required': false },
    },
  ],
};
const FIELD_IDS = `{id: 1, v: 2, tags: {__duckdb_field_id: 3, element: 4}}`;

let duckdb: DuckDBInstance;
before(async () => {
  duckdb = await DuckDBInstance.create(':memory:');
});
after(() => duckdb.closeSync());

/** A state table as epochs leave it: several data files, and position deletes of updated and deleted rows. */
async function table() {
  const store = new FilesystemObjectStore(join(tempDir('pg-cdc-compaction-'), 'lake'));
  const catalog = new LocalCatalog(store);
  await createTable(store, catalog, { identifier: 'public.t', location: 'public/t', schema });
  const connection = await duckdb.connect();
  let n = 0;
  const data = async (query: string): Promise<DataFile> => {
    const { localPath: _l, ...file } = await copyToLake(
      connection,
      store,
      `public/t/data/d${++n}.parquet`,
      query,
      FIELD_IDS,
    );
    return file;
  };
  const deletes = async (rows: readonly [DataFile, number][]): Promise<DataFile> => {
    const values = rows.map(([file, pos]) => `('${file.path}', ${pos})`).join(', ');
    const query = `SELECT * FROM (VALUES ${values}) AS t(file_path, pos) ORDER BY file_path, pos`;
    const { localPath: _l, ...file } = await copyToLake(
      connection,
      store,
      `public/t/data/x${++n}.parquet`,
      query,
      POSITION_DELETE_FIELD_IDS,
      1,
    );
    return file;
  };
  const rowsOf = (count: number, from: number, label: string): string =>
    `SELECT (${from} + i)::BIGINT AS id, '${label}' || i AS v, [i::INTEGER] AS tags FROM range(${count}) AS r(i)`;
  // Epoch 1: rows 0..99. Epoch 2: rows 100..149, and rows 5 and 6 updated (deleted from file 1, written again).
  const first = await data(rowsOf(100, 0, 'a'));
  await appendFiles(store, catalog, 'public.t', { dataFiles: [first], summary: { [SUMMARY_KEY.epoch]: '1' } });
  const second = await data(
    `${rowsOf(50, 100, 'b')} UNION ALL SELECT 5, 'a5 updated', [5] UNION ALL SELECT 6, 'a6 updated', NULL`,
  );
  await appendFiles(store, catalog, 'public.t', {
    dataFiles: [
      second,
      await deletes([
        [first, 5],
        [first, 6],
        [first, 7],
      ]),
    ],
    summary: { [SUMMARY_KEY.epoch]: '2', [SUMMARY_KEY.lsn]: '0/20' },
  });
  const live = async (): Promise<string[]> => {
    const files = await currentDataFiles(store, catalog, 'public.t');
    const sql = liveRowsSql(files, {
      select: "d.id::VARCHAR || '=' || d.v || ':' || coalesce(d.tags::VARCHAR, '-') AS r",
    });
    const reader = await connection.runAndReadAll(`SELECT r FROM (${sql}) ORDER BY r`);
    return reader.getRows().map((row) => String(row[0]));
  };
  return { store, catalog, connection, data, deletes, rowsOf, first, second, live };
}

describe('compaction of a state table', () => {
  it('rewrites the live rows into fewer files without the deleted ones, as one replace snapshot', async () => {
    const t = await table();
    const before = await t.live();
    const ctx = { store: t.store, catalog: t.catalog, duckdb };
    const rewrite = (await rewriteTable(ctx, 'public.t', { targetFileSizeBytes: 1 << 20 }))!;
    assert.equal(rewrite.rows, 149);
    assert.equal(rewrite.files.length, 1);
    const commit = await commitRewrite(ctx, rewrite);
    assert.equal(commit.result.committed, true);
    assert.equal(commit.result.snapshot.summary.operation, 'replace');
    assert.equal(commit.result.snapshot.summary[SUMMARY_KEY.epoch], '2');
    assert.equal(commit.result.snapshot.summary[SUMMARY_KEY.lsn], '0/20');
    assert.equal(commit.result.snapshot.summary[SUMMARY_KEY.kind], 'compaction');
    const files = await currentDataFiles(t.store, t.catalog, 'public.t');
    assert.equal(files.dataFiles.length, 1);
    assert.equal(files.deleteFiles.length, 0);
    assert.deepEqual(await t.live(), before);
    // A retry of the same commit finds it.
    assert.equal((await commitRewrite(ctx, rewrite)).result.committed, false);
  });

  // Small files: the rewrite numbers the 149 rows and cuts them into several files, so deletes move across files
  // too. Large ones: the rows are copied in order into one file, and the commit must number them the same way.
  for (const [targetFileSizeBytes, shape] of [
    [600, 'several files'],
    [1 << 20, 'one file'],
  ] as const) {
    it(`carries over the deletes of epochs committed during the rewrite, and keeps their files (${shape})`, async () => {
      const t = await table();
      const ctx = { store: t.store, catalog: t.catalog, duckdb };
      const rewrite = (await rewriteTable(ctx, 'public.t', { targetFileSizeBytes }))!;
      assert.equal(rewrite.files.length > 1, shape === 'several files', `${rewrite.files.length} files`);
      // Epoch 3 lands meanwhile: rows 10, 120 and 5 (already rewritten once) updated, row 140 deleted; its new file's
      // row 200 is then deleted by epoch 4.
      const third = await t.data(
        `SELECT 10::BIGINT AS id, 'a10 v3' AS v, NULL::INTEGER[] AS tags UNION ALL SELECT 120, 'b20 v3', [3] UNION ALL SELECT 5, 'a5 v3', [] UNION ALL SELECT 200, 'new', [200]`,
      );
      await appendFiles(t.store, t.catalog, 'public.t', {
        dataFiles: [
          third,
          await t.deletes([
            [t.first, 10],
            [t.second, 20],
            [t.second, 40],
            [t.second, 50],
          ]),
        ],
        summary: { [SUMMARY_KEY.epoch]: '3' },
      });
      await appendFiles(t.store, t.catalog, 'public.t', {
        dataFiles: [await t.deletes([[third, 3]])],
        summary: { [SUMMARY_KEY.epoch]: '4', [SUMMARY_KEY.lsn]: '0/40' },
      });
      const expected = await t.live();
      assert.ok(expected.includes('5=a5 v3:[]') && !expected.some((r) => r.startsWith('200=')));
      const commit = await commitRewrite(ctx, rewrite);
      assert.equal(commit.result.committed, true);
      assert.equal(commit.result.snapshot.summary[SUMMARY_KEY.epoch], '4');
      assert.equal(commit.carriedDeletes, 5);
      assert.deepEqual(await t.live(), expected);
      const files = await currentDataFiles(t.store, t.catalog, 'public.t');
      assert.equal(files.deleteFiles.length, 1);
      assert.ok(
        files.dataFiles.some((f) => f.path === third.path),
        'the epoch file stays',
      );
    });
  }

  it('refuses a rewrite whose base files were removed since (a truncate), committing nothing', async () => {
    const t = await table();
    const ctx = { store: t.store, catalog: t.catalog, duckdb };
    const rewrite = (await rewriteTable(ctx, 'public.t', { targetFileSizeBytes: 1 << 20 }))!;
    await appendFiles(t.store, t.catalog, 'public.t', {
      dataFiles: [],
      replaceAll: true,
      summary: { [SUMMARY_KEY.epoch]: '3' },
    });
    const head = currentSnapshot((await loadTableMetadata(t.store, t.catalog, 'public.t')).metadata);
    await assert.rejects(commitRewrite(ctx, rewrite), CompactionStaleError);
    const after = currentSnapshot((await loadTableMetadata(t.store, t.catalog, 'public.t')).metadata);
    assert.equal(after?.['snapshot-id'], head?.['snapshot-id']);
  });

  it('merges a changelog in commit order and drops changes past its retention', async () => {
    const store = new FilesystemObjectStore(join(tempDir('pg-cdc-compaction-'), 'lake'));
    const catalog = new LocalCatalog(store);
    const changelog: IcebergSchema = {
      type: 'struct',
      'schema-id': 0,
      fields: [
        { id: 1, name: '_commit_lsn', required: true, type: 'long' },
        { id: 2, name: '_seq', required: true, type: 'long' },
        { id: 3, name: '_commit_ts', required: true, type: 'timestamptz' },
      ],
    };
    await createTable(store, catalog, {
      identifier: 'public.t__changes',
      location: 'public/t__changes',
      schema: changelog,
    });
    const connection = await duckdb.connect();
    // Files named against commit order: the numbering must follow the columns, not the file names.
    for (const [name, lsn, day] of [
      ['z', 1, 1],
      ['a', 2, 5],
      ['m', 3, 9],
    ] as const) {
      const query = `SELECT ${lsn}::BIGINT AS _commit_lsn, i::BIGINT AS _seq, TIMESTAMPTZ '2026-01-0${day} 00:00:00+00' AS _commit_ts FROM range(3) AS r(i)`;
      const { localPath: _l, ...file } = await copyToLake(
        connection,
        store,
        `public/t__changes/data/${name}.parquet`,
        query,
        '{_commit_lsn: 1, _seq: 2, _commit_ts: 3}',
      );
      await appendFiles(store, catalog, 'public.t__changes', { dataFiles: [file] });
    }
    const ctx = { store, catalog, duckdb };
    const rewrite = (await rewriteTable(ctx, 'public.t__changes', {
      targetFileSizeBytes: 1 << 20,
      order: CHANGELOG_ORDER,
      where: `_commit_ts >= TIMESTAMPTZ '2026-01-04 00:00:00+00'`,
    }))!;
    assert.equal(rewrite.rows, 6);
    await commitRewrite(ctx, rewrite);
    const files = await currentDataFiles(store, catalog, 'public.t__changes');
    assert.equal(files.dataFiles.length, 1);
    const reader = await connection.runAndReadAll(
      `SELECT _commit_lsn, _seq FROM read_parquet('${files.dataFiles[0]!.localPath!}', file_row_number = true) ORDER BY file_row_number`,
    );
    assert.deepEqual(
      reader.getRows().map((r) => `${String(r[0])}/${String(r[1])}`),
      ['2/0', '2/1', '2/2', '3/0', '3/1', '3/2'],
    );
    connection.closeSync();
  });
});
