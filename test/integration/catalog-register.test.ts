import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { parseLsnText } from '../../core/lsn/index.js';
import { planTable } from '../../core/types/index.js';
import type { SourceTable } from '../../core/types/source.js';
import { tableLocation } from '../../lake/contract/index.js';
import { commitMetadata, loadTableMetadata } from '../../lake/iceberg/table.js';
import { openLake } from '../../lake/open.js';
import { commitBase } from '../../lake/state/index.js';
import { runCli } from '../support/cli.js';
import { tempDir, writeConfig } from '../support/stack.js';

/**
 * `pg-cdc catalog register` as a user runs it, on a lake with the local catalog (the Glue catalog's drift cases
 * are in glue-catalog.test.ts): exit 0 when the catalog matches the lake, 3 when it healed drift, 2 on an error;
 * `--metrics-file` leaves the run's catalog figures in Prometheus's text format.
 */
const text = { oid: 0, schema: 'pg_catalog', name: 'text', typmod: -1, category: 'S', isEnum: false };
const REGISTER_ITEMS: SourceTable = {
  schema: 'public',
  name: 'register_items',
  primaryKey: [],
  columns: [
    { name: 'a', attnum: 1, notNull: false, typeOid: 0, typmod: -1, formatType: 'text', dimensions: 0, type: text },
  ],
};

describe('pg-cdc catalog register', () => {
  it('reports a clean catalog, heals a missing and a stale table, and refuses an unknown one', async () => {
    const dir = tempDir('pg-cdc-register-');
    const warehouse = join(dir, 'lake');
    const config = writeConfig(
      `source: { postgres: { url: "postgresql://cdc@127.0.0.1:1/app" } }\nstorage: { type: filesystem, path: ${JSON.stringify(warehouse)} }\n`,
    );
    const lake = openLake({ storage: { type: 'filesystem', path: warehouse }, catalog: { type: 'local' } });
    const identifier = 'public.register_items';
    await commitBase(
      { ...lake, log: pino({ level: 'silent' }) },
      {
        identifier,
        location: tableLocation('public', 'register_items'),
        schema: planTable(REGISTER_ITEMS).schema,
        files: [],
        lsn: parseLsnText('0/5000'),
        slot: 'register_slot',
        primaryKey: [],
        source: { database: 'app', host: '127.0.0.1', publication: 'register_pub' },
      },
    );
    const committed = await loadTableMetadata(lake.store, lake.catalog, identifier);
    const register = (...args: string[]) => runCli(['--config', config, 'catalog', 'register', '--json', ...args]);
    const outcomes = (stdout: string) =>
      (JSON.parse(stdout) as { tables: { identifier: string; outcome: string }[] }).tables.map((t) => [
        t.identifier,
        t.outcome,
      ]);

    const clean = await register();
    assert.equal(clean.code, 0, clean.stderr);
    assert.deepEqual(outcomes(clean.stdout), [[identifier, 'registered']]);

    await lake.catalog.dropTable(identifier);
    const missing = await register('--table', identifier);
    assert.equal(missing.code, 3, missing.stderr);
    assert.deepEqual(outcomes(missing.stdout), [[identifier, 'created']]);
    assert.equal((await lake.catalog.loadTable(identifier)).metadataKey, committed.metadataKey);

    // The catalog moved back to the table's first metadata file: behind what the lake's manifest records.
    const first = await loadTableMetadata(lake.store, lake.catalog, identifier);
    const older = committed.metadata['metadata-log'].at(-1)?.['metadata-file'];
    assert.ok(older, 'the base commit made a second metadata version');
    await lake.catalog.commitTable(identifier, first.metadataKey, lake.store.keyOf(older)!);
    const metricsFile = join(dir, 'register.prom');
    const stale = await register('--metrics-file', metricsFile);
    assert.equal(stale.code, 3, stale.stderr);
    assert.deepEqual(outcomes(stale.stdout), [[identifier, 'updated']]);
    // The run's figures, for node_exporter's textfile collector.
    const metrics = readFileSync(metricsFile, 'utf8');
    assert.match(metrics, /^pgcdc_catalog_sync_tables_total\{outcome="updated"\} 1$/m);
    assert.match(metrics, /^pgcdc_catalog_drift_tables 1$/m);
    assert.equal((await lake.catalog.loadTable(identifier)).metadataKey, committed.metadataKey);

    // A commit the manifest has not recorded yet is the catalog ahead of it, not drift.
    await commitMetadata(lake.store, lake.catalog, committed, committed.metadata);
    const ahead = await register();
    assert.equal(ahead.code, 0, ahead.stderr);

    const unknown = await register('--table', 'public.nothing_here');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /TABLE_NOT_FOUND/);
  });
});
