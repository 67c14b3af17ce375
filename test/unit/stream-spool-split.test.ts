/**
 * A transaction whose rows of a table were written in two shapes (an ALTER between two of its writes): the spool
 * splits it over consecutive epochs, sealed together, and a restart that finds only the first drops it too.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { asLsn } from '../../core/lsn/index.js';
import { freshShape, type TableShape } from '../../core/types/evolution.js';
import { epochDir } from '../../stream/spool-files.js';
import { TableSpool } from '../../stream/spool.js';
import { tempDir } from '../support/temp.js';

const INT8 = { oid: 20, schema: 'pg_catalog', name: 'int8', typmod: -1, category: 'N', isEnum: false };
const column = (name: string, attnum: number) => ({
  name,
  attnum,
  notNull: false,
  typeOid: 20,
  typmod: -1,
  formatType: 'bigint',
  dimensions: 0,
  type: INT8,
});
const BEFORE = freshShape({ schema: 'public', name: 'things', primaryKey: [], columns: [column('id', 1)] });
const AFTER: TableShape = {
  ...BEFORE,
  schemaId: 1,
  source: { ...BEFORE.source, columns: [column('id', 1), column('size', 2)] },
  ids: [...BEFORE.ids, { name: 'size', fieldId: 2 }],
  lastColumnId: 2,
};

function write(spool: TableSpool, key: string, row: string): void {
  spool.beginRow(key).text(row);
  spool.endRow();
}

/** An epoch of an earlier transaction left open, then one transaction with a row before and two after the ALTER. */
function splitSpool(): { dir: string; spool: TableSpool } {
  const dir = join(tempDir('pg-cdc-spool-split-'), 'public.things');
  const spool = new TableSpool('public.things', dir, 0, BEFORE);
  write(spool, 'x1', '1');
  spool.commit(['x1'], { xid: 1, commitLsn: asLsn(0x100n), commitTime: '2026-01-01T00:00:00Z' });
  write(spool, 'x2-a', '2');
  write(spool, 'x2-b', '3,30');
  write(spool, 'x2-b', '4,40');
  spool.commitParts(
    [
      { shape: BEFORE, keys: ['x2-a'] },
      { shape: AFTER, keys: ['x2-b'] },
    ],
    { xid: 2, commitLsn: asLsn(0x200n), commitTime: '2026-01-01T00:00:01Z' },
  );
  return { dir, spool };
}

describe('a transaction split at an ALTER', () => {
  it('ends one epoch in the old shape and seals the rest at once in the new one', () => {
    const { spool } = splitSpool();
    const first = spool.peekSealed()!;
    assert.equal(first.shape, BEFORE);
    assert.deepEqual(
      first.batch.transactions.map((t) => [t.xid, t.rows, t.continues ?? false]),
      [
        ['1', 1, false],
        ['2', 1, true],
      ],
    );
    spool.committed(first.batch.epoch);
    const second = spool.peekSealed()!;
    assert.equal(second.batch.epoch, first.batch.epoch + 1);
    assert.equal(second.shape, AFTER);
    assert.deepEqual(
      second.batch.transactions.map((t) => [t.xid, t.rows, t.continued ?? false]),
      [['2', 2, true]],
    );
    assert.equal(second.firstCommitLsn, first.lastCommitLsn, 'both parts carry the commit LSN');
    assert.equal(spool.hasOpen, false);
  });

  it('is recovered whole, or dropped whole when the second epoch is missing', () => {
    const { dir } = splitSpool();
    assert.deepEqual(
      new TableSpool('public.things', dir, 0, BEFORE).recover(0).map((e) => e.batch.epoch),
      [1, 2],
    );
    rmSync(epochDir(dir, 2), { recursive: true });
    assert.deepEqual(new TableSpool('public.things', dir, 0, BEFORE).recover(0), [], 'the first part went too');
  });

  it('is one epoch as before when all its rows are in the open epoch’s shape', () => {
    const dir = join(tempDir('pg-cdc-spool-split-'), 'public.things');
    const spool = new TableSpool('public.things', dir, 0, BEFORE);
    write(spool, 'x1', '1');
    spool.commitParts([{ shape: BEFORE, keys: ['x1'] }], {
      xid: 1,
      commitLsn: asLsn(0x100n),
      commitTime: '2026-01-01T00:00:00Z',
    });
    assert.equal(spool.sealedCount, 0);
    assert.equal(spool.hasOpen, true);
  });
});
