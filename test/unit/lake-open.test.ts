import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import type { LakeConfig } from '../../lake/open.js';
import { catalogBehind } from '../../lake/catalog/instrumented.js';
import { HiveGlueCatalog } from '../../lake/catalog/glue-hive.js';
import { GlueCatalog } from '../../lake/catalog/glue.js';
import { createTable } from '../../lake/iceberg/table.js';
import { openLake } from '../../lake/open.js';

const root = mkdtempSync(join(tmpdir(), 'pg-cdc-lake-open-'));
after(() => rmSync(root, { recursive: true, force: true }));

const local = (path: string): LakeConfig => ({ storage: { type: 'filesystem', path }, catalog: { type: 'local' } });

describe('openLake', () => {
  it('opens a filesystem warehouse with the local catalog, once per process per lake', async () => {
    const path = join(root, 'one');
    const lake = openLake(local(path));
    assert.equal(lake.store.kind, 'filesystem');
    assert.equal(lake.root, path);
    assert.equal(lake.location, `file://${path}`);
    assert.deepEqual(await lake.catalog.listTables(), []);
    assert.equal(await lake.manifest.read(), undefined);
    // The same warehouse, however its path is spelled, is the same lake with the same caches.
    assert.equal(openLake(local(relative(process.cwd(), path))), lake);
    assert.notEqual(openLake(local(join(root, 'two'))), lake);
  });

  it('reads a metadata file once: every opener of the lake shares the cache', async () => {
    const lake = openLake(local(join(root, 'cached')));
    const schema = { type: 'struct' as const, 'schema-id': 0, fields: [] };
    const table = await createTable(lake.store, lake.catalog, { identifier: 'public.t', location: 'public/t', schema });
    assert.equal(await lake.metadataAt('public/t/metadata/absent.metadata.json'), undefined);
    const first = await lake.metadataAt(table.metadataKey);
    assert.equal(first?.['table-uuid'], table.metadata['table-uuid']);
    // Gone from the store, still known to the process: it was read once, by whichever opener came first.
    await lake.store.delete(table.metadataKey);
    assert.equal(await openLake(local(join(root, 'cached'))).metadataAt(table.metadataKey), first);
  });

  it('opens S3 storage with the local catalog kept in the bucket, once per process per lake', () => {
    const s3: LakeConfig = {
      storage: {
        type: 's3',
        bucket: 'warehouse',
        prefix: '/cdc/',
        endpoint: 'http://127.0.0.1:9',
        force_path_style: true,
        max_attempts: 1,
        conflict_breaker: { max_conflicts: 10, window_sec: 60 },
      },
      catalog: { type: 'local' },
      state_dir: join(root, 'state'),
    };
    const lake = openLake(s3);
    assert.equal(lake.store.kind, 's3');
    assert.equal(lake.root, undefined);
    assert.equal(lake.location, 's3://warehouse/cdc');
    assert.equal(lake.store.uri('public/t/data/a.parquet'), 's3://warehouse/cdc/public/t/data/a.parquet');
    assert.equal(lake.store.keyOf('s3://warehouse/cdc/public/t/x'), 'public/t/x');
    assert.equal(lake.store.keyOf('s3://warehouse/other/x'), undefined);
    assert.equal(lake.store.readRoot, 's3://warehouse/cdc/');
    assert.equal(openLake({ ...s3, storage: { ...s3.storage, prefix: 'cdc' } as LakeConfig['storage'] }), lake);
  });

  it('opens catalog.type glue as Hive tables in Glue beside the local catalog', () => {
    const lake = openLake({
      ...local(join(root, 'hive')),
      catalog: { type: 'glue', database: 'db_h', region: 'eu-west-1', endpoint: 'http://127.0.0.1:1' },
    });
    assert.ok(catalogBehind(lake.catalog) instanceof HiveGlueCatalog);
  });

  it('opens catalog.type iceberg as the Glue catalog, one lake per database and endpoint', () => {
    const config = (database: string): LakeConfig => ({
      ...local(join(root, 'iceberg')),
      catalog: { type: 'iceberg', database, region: 'eu-west-1', endpoint: 'http://127.0.0.1:1' },
    });
    const lake = openLake(config('db_a'));
    assert.ok(catalogBehind(lake.catalog) instanceof GlueCatalog);
    assert.equal(openLake(config('db_a')), lake);
    assert.notEqual(openLake(config('db_b')), lake);
  });
});
