import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DeleteTableCommand, GetTableCommand, GlueClient, UpdateTableCommand } from '@aws-sdk/client-glue';
import { pino } from 'pino';
import { parseLsnText } from '../../core/lsn/index.js';
import { csvRecord, planTable } from '../../core/types/index.js';
import type { SourceColumn, SourceTable } from '../../core/types/source.js';
import { HiveGlueCatalog } from '../../lake/catalog/glue-hive.js';
import { GlueCatalog, glueTableName } from '../../lake/catalog/glue.js';
import { LocalCatalog } from '../../lake/catalog/local.js';
import type { Catalog } from '../../lake/catalog/index.js';
import { registerLakeTables } from '../../lake/catalog/register.js';
import { pgcdcSummary, tableLocation, SUMMARY_KEY } from '../../lake/contract/index.js';
import { CommitConflictError, TableExistsError, TableNotFoundError } from '../../lake/errors.js';
import { currentSnapshot } from '../../lake/iceberg/metadata.js';
import { commitRewrite } from '../../lake/compaction/commit.js';
import { rewriteTable } from '../../lake/compaction/rewrite.js';
import {
  appendFiles,
  commitMetadata,
  createTable,
  loadTableMetadata,
  type DataFile,
} from '../../lake/iceberg/table.js';
import { openLake, type Lake } from '../../lake/open.js';
import { openDuckDB, writeParquetFromCsv, type OpenDuckDB } from '../../lake/parquet/writer.js';
import { copyToLake } from '../../lake/state/duck.js';
import { commitBase } from '../../lake/state/index.js';
import { POSITION_DELETE_FIELD_IDS } from '../../lake/state/state-sql.js';
import { pythonOrSkip } from '../support/readers.js';
import { motoEndpoint, tempDir, uniqueName } from '../support/stack.js';

/**
 * The Glue catalogs against moto: the Catalog contract, the table as Iceberg's GlueCatalog writes it (read back by
 * PyIceberg's Glue catalog), and a commit that loses to a concurrent writer, is refused, and succeeds when the
 * caller retries it. moto keeps Glue table versions but does not enforce UpdateTable's VersionId, so the refusal
 * proven here is the metadata_location check; the VersionId closes the window between read and update on AWS.
 */
const moto = motoEndpoint();
const REGION = 'us-east-1';
// The AWS SDK's default provider chain finds these, as it finds real credentials in production.
process.env.AWS_ACCESS_KEY_ID = 'testing';
process.env.AWS_SECRET_ACCESS_KEY = 'testing';
process.env.AWS_REGION = REGION;

const log = pino({ level: 'silent' });
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
const GLUE_ITEMS: SourceTable = {
  schema: 'public',
  name: 'glue_items',
  primaryKey: ['id'],
  columns: [column('id', int8, 1, true), column('name', text, 2)],
};

function lakeOn(database: string): Lake {
  const root = tempDir('pg-cdc-glue-');
  return openLake({
    storage: { type: 'filesystem', path: join(root, 'warehouse') },
    catalog: { type: 'iceberg', database, region: REGION, endpoint: moto.endpoint! },
  });
}

async function glueTable(database: string, identifier: string) {
  const glue = new GlueClient({ region: REGION, endpoint: moto.endpoint! });
  try {
    return (await glue.send(new GetTableCommand({ DatabaseName: database, Name: glueTableName(identifier) }))).Table!;
  } finally {
    glue.destroy();
  }
}

/** A base commit of GLUE_ITEMS holding `rows`, with the Parquet file written as `init` writes it. */
async function baseCommit(lake: Lake, duck: OpenDuckDB, rows: string[][], lsn: string) {
  const plan = planTable(GLUE_ITEMS);
  const location = tableLocation('public', 'glue_items');
  const csv = join(tempDir('pg-cdc-glue-csv-'), 'base.csv');
  writeFileSync(csv, rows.map((row) => csvRecord(row)).join(''));
  const key = `${location}/data/base-${lsn.replace('/', '-')}.parquet`;
  const output = lake.store.localPath(key)!;
  mkdirSync(dirname(output), { recursive: true });
  const written = await writeParquetFromCsv(duck.connection, {
    input: csv,
    csvColumns: plan.csvColumns(),
    select: plan.duckdbSelect(),
    fieldIds: plan.fieldIds(),
    output,
  });
  return {
    identifier: 'public.glue_items',
    location,
    schema: plan.schema,
    files: [{ path: lake.store.uri(key), ...written }],
    lsn: parseLsnText(lsn),
    slot: 'glue_slot',
    primaryKey: ['id'],
    source: { database: 'shop', host: 'db.internal', publication: 'glue_pub' },
  };
}

describe('the Glue catalogs (catalog.type iceberg and glue) against moto', { skip: moto.skip }, () => {
  let duck: OpenDuckDB;
  before(async () => (duck = await openDuckDB({ threads: 1 })));
  after(() => duck.close());

  it('keeps the Catalog contract: create, load, list, commit, a stale commit refused, drop', async () => {
    const database = uniqueName('glue_db');
    const lake = lakeOn(database);
    const { plan } = { plan: planTable(GLUE_ITEMS) };
    assert.deepEqual(await lake.catalog.listTables(), [], 'no database yet: nothing listed');
    const created = await createTable(lake.store, lake.catalog, {
      identifier: 'public.glue_items',
      location: tableLocation('public', 'glue_items'),
      schema: plan.schema,
    });
    await assert.rejects(
      createTable(lake.store, lake.catalog, {
        identifier: 'public.glue_items',
        location: tableLocation('public', 'glue_items'),
        schema: plan.schema,
      }),
      TableExistsError,
    );
    await createTable(lake.store, lake.catalog, {
      identifier: 'other.glue_items__changes',
      location: tableLocation('other', 'glue_items__changes'),
      schema: plan.schema,
    });
    assert.deepEqual(await lake.catalog.listTables(), ['other.glue_items__changes', 'public.glue_items']);
    assert.deepEqual(await lake.catalog.listTables('public'), ['public.glue_items']);
    assert.deepEqual(await lake.catalog.loadTable('public.glue_items'), {
      identifier: 'public.glue_items',
      metadataKey: created.metadataKey,
      location: created.location,
    });

    const registered = await glueTable(database, 'public.glue_items');
    assert.equal(registered.Name, 'public__glue_items');
    assert.equal(registered.TableType, 'EXTERNAL_TABLE');
    assert.equal(registered.Parameters?.table_type, 'ICEBERG');
    assert.equal(registered.Parameters?.metadata_location, created.metadataLocation);
    assert.equal(registered.StorageDescriptor?.Location, lake.store.uri(created.location));
    assert.deepEqual(
      registered.StorageDescriptor?.Columns?.map((c) => [c.Name, c.Type, c.Parameters?.['iceberg.field.id']]),
      [
        ['id', 'bigint', '1'],
        ['name', 'string', '2'],
      ],
    );

    const moved = await commitMetadata(lake.store, lake.catalog, created, {
      ...created.metadata,
      properties: { ...created.metadata.properties, 'pgcdc.test': 'moved' },
    });
    const after = await glueTable(database, 'public.glue_items');
    assert.equal(after.Parameters?.metadata_location, moved.metadataLocation);
    assert.equal(after.Parameters?.previous_metadata_location, created.metadataLocation);
    assert.notEqual(after.VersionId, registered.VersionId, 'the update made a new Glue table version');

    // A writer still holding the first metadata loses, and its metadata file is removed again.
    await assert.rejects(
      commitMetadata(lake.store, lake.catalog, created, created.metadata),
      (error: unknown) => error instanceof CommitConflictError && error.context.actual === moved.metadataKey,
    );
    assert.equal((await lake.catalog.loadTable('public.glue_items')).metadataKey, moved.metadataKey);

    assert.equal(await lake.catalog.dropTable('public.glue_items'), true);
    assert.equal(await lake.catalog.dropTable('public.glue_items'), false);
    await assert.rejects(lake.catalog.loadTable('public.glue_items'), TableNotFoundError);
    assert.deepEqual(await lake.catalog.listTables(), ['other.glue_items__changes']);
  });

  it('refuses a base commit that a concurrent writer overtook, and the retried commit lands on top', async () => {
    const database = uniqueName('glue_db');
    const lake = lakeOn(database);
    const commit = await baseCommit(
      lake,
      duck,
      [
        ['1', 'one'],
        ['2', 'two'],
      ],
      '0/3000',
    );

    // Another process with its own Glue client commits to the table between this writer's read and its swap.
    const rival = new GlueCatalog(lake.store, {
      database,
      region: REGION,
      endpoint: moto.endpoint!,
      readMetadata: (k) => lake.metadataAt(k),
    });
    let overtaken = false;
    const racing: Catalog = {
      createTable: (id, table) => lake.catalog.createTable(id, table),
      loadTable: (id) => lake.catalog.loadTable(id),
      listTables: (ns) => lake.catalog.listTables(ns),
      dropTable: (id) => lake.catalog.dropTable(id),
      async commitTable(id, expected, next) {
        if (!overtaken) {
          overtaken = true;
          const current = await loadTableMetadata(lake.store, rival, id);
          firstMetadata = current.metadataLocation;
          await commitMetadata(lake.store, rival, current, {
            ...current.metadata,
            properties: { ...current.metadata.properties, 'pgcdc.rival': 'was here' },
          });
        }
        return lake.catalog.commitTable(id, expected, next);
      },
    };
    const ctx = { store: lake.store, catalog: racing, manifest: lake.manifest, log };
    let firstMetadata = '';
    await assert.rejects(commitBase(ctx, commit), CommitConflictError);
    // What Temporal's retry of the activity does (COMMIT_CONFLICT is retryable): the same commit again.
    const snapshotId = await commitBase(ctx, commit);

    const table = await loadTableMetadata(lake.store, lake.catalog, 'public.glue_items');
    assert.equal(String(currentSnapshot(table.metadata)?.['snapshot-id']), snapshotId);
    assert.equal(currentSnapshot(table.metadata)?.summary[SUMMARY_KEY.kind], 'snapshot');
    assert.equal(table.metadata.properties['pgcdc.rival'], 'was here', "the rival's commit is kept underneath");
    const registered = await glueTable(database, 'public.glue_items');
    assert.equal(registered.Parameters?.metadata_location, table.metadataLocation);
    const entry = (await lake.manifest.read())?.value.tables['public.glue_items'];
    assert.equal(entry?.state.metadata_location, table.metadataLocation);

    // `pg-cdc catalog register`: clean, then a table pointed back at an old metadata file, then one missing.
    assert.deepEqual(
      (await registerLakeTables(lake)).map((r) => r.outcome),
      ['registered'],
    );
    const glue = new GlueClient({ region: REGION, endpoint: moto.endpoint! });
    try {
      const stale = { ...registered, Parameters: { ...registered.Parameters, metadata_location: firstMetadata } };
      await glue.send(
        new UpdateTableCommand({
          DatabaseName: database,
          TableInput: {
            Name: stale.Name,
            TableType: stale.TableType,
            Parameters: stale.Parameters,
            StorageDescriptor: stale.StorageDescriptor,
          },
        }),
      );
    } finally {
      glue.destroy();
    }
    const healed = await registerLakeTables(lake, 'public.glue_items');
    assert.deepEqual(
      healed.map((r) => [r.outcome, r.was]),
      [['updated', lake.store.keyOf(firstMetadata)]],
    );
    assert.equal(
      (await glueTable(database, 'public.glue_items')).Parameters?.metadata_location,
      table.metadataLocation,
    );
    await lake.catalog.dropTable('public.glue_items');
    assert.deepEqual(
      (await registerLakeTables(lake)).map((r) => r.outcome),
      ['created'],
    );
    assert.deepEqual(
      (await registerLakeTables(lake)).map((r) => r.outcome),
      ['registered'],
    );
    assert.equal(
      (await glueTable(database, 'public.glue_items')).Parameters?.metadata_location,
      table.metadataLocation,
    );

    const { python, skip } = pythonOrSkip();
    if (skip || !python) return;
    // PyIceberg's own Glue catalog finds the table by its Glue name and reads the rows through metadata_location.
    const script = `
import json, sys
from pyiceberg.catalog.glue import GlueCatalog
catalog = GlueCatalog('glue', **{'glue.endpoint': sys.argv[1], 'glue.region': '${REGION}',
    'glue.access-key-id': 'testing', 'glue.secret-access-key': 'testing'})
table = catalog.load_table((sys.argv[2], sys.argv[3]))
rows = sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r['id'])
print(json.dumps({'rows': rows, 'metadata': table.metadata_location}))
`;
    const out = execFileSync(python, ['-c', script, moto.endpoint!, database, 'public__glue_items'], {
      encoding: 'utf8',
    });
    const read = JSON.parse(out) as { rows: unknown[]; metadata: string };
    assert.equal(read.metadata, table.metadataLocation);
    assert.deepEqual(read.rows, [
      { id: 1, name: 'one' },
      { id: 2, name: 'two' },
    ]);
  });

  it('catalog.type glue: a symlink Parquet table of the base, moved by a compaction and not by an epoch', async () => {
    const database = uniqueName('glue_db');
    const root = tempDir('pg-cdc-glue-hive-');
    const lake = openLake({
      storage: { type: 'filesystem', path: join(root, 'warehouse') },
      catalog: { type: 'glue', database, region: REGION, endpoint: moto.endpoint! },
    });
    const ctx = { ...lake, log };
    const commit = await baseCommit(
      lake,
      duck,
      [
        ['1', 'one'],
        ['2', 'two'],
        ['3', 'three'],
      ],
      '0/4000',
    );
    const snapshotId = await commitBase(ctx, commit);

    const hive = await glueTable(database, 'public.glue_items');
    assert.equal(hive.Parameters?.['pgcdc.base-snapshot-id'], snapshotId);
    assert.equal(hive.Parameters?.['pgcdc.lsn'], '0/4000');
    assert.equal(hive.Parameters?.table_type, undefined, 'not an Iceberg table');
    const sd = hive.StorageDescriptor!;
    assert.equal(sd.InputFormat, 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat');
    assert.equal(sd.SerdeInfo?.SerializationLibrary, 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe');
    assert.deepEqual(
      sd.Columns?.map((c) => [c.Name, c.Type]),
      [
        ['id', 'bigint'],
        ['name', 'string'],
      ],
    );
    // What a Hive engine reads: the files the symlink lists, by the column names of the Glue table.
    const listed = async (location: string): Promise<string[]> => {
      const body = await lake.store.get(`${lake.store.keyOf(location)!}/symlink.txt`);
      return new TextDecoder().decode(body).trim().split('\n');
    };
    const readRows = async (files: string[]): Promise<unknown[][]> => {
      const paths = files.map((f) => `'${lake.store.localPath(lake.store.keyOf(f)!)!}'`).join(', ');
      const reader = await duck.instance.connect();
      try {
        return (await reader.runAndReadAll(`SELECT id, name FROM read_parquet([${paths}]) ORDER BY id`)).getRows();
      } finally {
        reader.closeSync();
      }
    };
    const files = await listed(sd.Location!);
    assert.deepEqual(
      files,
      commit.files.map((f) => f.path),
    );
    assert.deepEqual(await readRows(files), [
      [1n, 'one'],
      [2n, 'two'],
      [3n, 'three'],
    ]);

    // An epoch (row 4 inserted, row 2 deleted) is not a base: the Hive table stays as it is.
    const identifier = 'public.glue_items';
    const strip = ({ localPath: _l, ...file }: DataFile & { localPath?: string }): DataFile => file;
    const inserted = strip(
      await copyToLake(
        duck.connection,
        lake.store,
        `${commit.location}/data/e1.parquet`,
        "SELECT 4::BIGINT AS id, 'four' AS name",
        '{id: 1, name: 2}',
      ),
    );
    const deleted = strip(
      await copyToLake(
        duck.connection,
        lake.store,
        `${commit.location}/data/e1-deletes.parquet`,
        `SELECT '${commit.files[0]!.path}' AS file_path, 1::BIGINT AS pos`,
        POSITION_DELETE_FIELD_IDS,
        1,
      ),
    );
    await appendFiles(lake.store, lake.catalog, identifier, {
      dataFiles: [inserted, deleted],
      summary: pgcdcSummary({ kind: 'epoch', epoch: 1, lsn: parseLsnText('0/4100') }),
    });
    assert.equal((await glueTable(database, identifier)).VersionId, hive.VersionId);

    // A compaction is a new base: the Hive table moves to the files it wrote, the rows as of the epoch.
    const rewrite = (await rewriteTable({ ...lake, duckdb: duck.instance }, identifier, {
      targetFileSizeBytes: 1 << 20,
    }))!;
    const compacted = await commitRewrite({ ...lake, duckdb: duck.instance }, rewrite);
    const moved = await glueTable(database, identifier);
    assert.equal(moved.Parameters?.['pgcdc.base-snapshot-id'], String(compacted.result.snapshot['snapshot-id']));
    const movedFiles = await listed(moved.StorageDescriptor!.Location!);
    assert.deepEqual(movedFiles, rewrite.files.map((f) => f.path).sort());
    assert.deepEqual(await readRows(movedFiles), [
      [1n, 'one'],
      [3n, 'three'],
      [4n, 'four'],
    ]);

    // A Hive table gone from Glue is published again by `pg-cdc catalog register`.
    const glue = new GlueClient({ region: REGION, endpoint: moto.endpoint! });
    await glue.send(new DeleteTableCommand({ DatabaseName: database, Name: 'public__glue_items' }));
    glue.destroy();
    const reopened = new HiveGlueCatalog(new LocalCatalog(lake.store), lake.store, {
      database,
      region: REGION,
      endpoint: moto.endpoint!,
      readMetadata: (k) => lake.metadataAt(k),
    });
    const results = await registerLakeTables({ ...lake, catalog: reopened });
    assert.deepEqual(
      results.map((r) => r.outcome),
      ['published'],
    );
    assert.equal(
      (await glueTable(database, 'public.glue_items')).Parameters?.['pgcdc.base-snapshot-id'],
      String(compacted.result.snapshot['snapshot-id']),
    );
    assert.deepEqual(
      (await registerLakeTables({ ...lake, catalog: reopened })).map((r) => r.outcome),
      ['registered'],
    );
  });
});
