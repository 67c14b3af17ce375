import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { asLsn } from '../../core/lsn/index.js';
import { bindSpoolToLakeTable } from '../../stream/spool-files.js';
import { TableSpool } from '../../stream/spool.js';
import { tempDir } from '../support/temp.js';
import { freshShape } from '../../core/types/evolution.js';

const INT8 = { oid: 20, schema: 'pg_catalog', name: 'int8', typmod: -1, category: 'N', isEnum: false };
const SHAPE = freshShape({
  schema: 'public',
  name: 'things',
  primaryKey: [],
  columns: [
    { name: 'id', attnum: 1, notNull: true, typeOid: 20, typmod: -1, formatType: 'bigint', dimensions: 0, type: INT8 },
  ],
});

/** A spool with one sealed, uncommitted epoch, as a `start` killed before its commit leaves it. */
function crashedSpool(tableUuid: string): string {
  const dir = join(tempDir('pg-cdc-spool-binding-'), 'public.things');
  bindSpoolToLakeTable(dir, tableUuid);
  const spool = new TableSpool('public.things', dir, 0, SHAPE);
  spool.beginRow('t1').text('1');
  spool.endRow();
  spool.commit(['t1'], { xid: 900, commitLsn: asLsn(0x100n), commitTime: '2026-01-01T00:00:00Z' });
  assert.ok(spool.seal(), 'an epoch was sealed');
  return dir;
}

describe('a spool is bound to the lake table it feeds', () => {
  it('keeps the sealed epochs for the same table: a restart commits them', () => {
    const dir = crashedSpool('uuid-a');
    assert.equal(bindSpoolToLakeTable(dir, 'uuid-a'), false);
    assert.deepEqual(
      new TableSpool('public.things', dir, 0, SHAPE).recover(0).map((e) => e.batch.epoch),
      [1],
    );
  });

  it('empties a spool left for another table: a new init under the same slot name never gets old epochs', () => {
    const dir = crashedSpool('uuid-a');
    assert.equal(bindSpoolToLakeTable(dir, 'uuid-b'), true);
    assert.equal(existsSync(join(dir, 'e1')), false);
    assert.deepEqual(new TableSpool('public.things', dir, 0, SHAPE).recover(0), []);
  });

  it('empties an unbound spool with epochs, written before spools were bound', () => {
    const dir = join(tempDir('pg-cdc-spool-binding-'), 'public.things');
    const spool = new TableSpool('public.things', dir, 0, SHAPE);
    spool.beginRow('t1').text('1');
    spool.endRow();
    spool.commit(['t1'], { xid: 901, commitLsn: asLsn(0x200n), commitTime: '2026-01-01T00:00:00Z' });
    spool.seal();
    assert.equal(bindSpoolToLakeTable(dir, 'uuid-a'), true);
    assert.deepEqual(new TableSpool('public.things', dir, 0, SHAPE).recover(0), []);
  });
});
