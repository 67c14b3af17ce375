import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { freshShape } from '../../core/types/evolution.js';
import type { SourceTable, SourceType } from '../../core/types/source.js';
import { asLsn, type Lsn } from '../../core/lsn/index.js';
import { Tuple, UNCHANGED_TOAST, type PgoutputMessage, type TupleValue } from '../../source/replication/messages.js';
import { TransactionAssembler } from '../../stream/assembler.js';
import { Checkpoint } from '../../stream/checkpoint.js';
import { routeColumns, type TableRoute } from '../../stream/routes.js';
import { TableSpool } from '../../stream/spool.js';
import { tempDir } from '../support/temp.js';

const type = (name: string, oid: number, element?: SourceType): SourceType => ({
  oid,
  schema: 'pg_catalog',
  name,
  typmod: -1,
  category: element ? 'A' : 'S',
  isEnum: false,
  ...(element ? { element } : {}),
});
const INT8 = type('int8', 20);
const TEXT = type('text', 25);
const TEXT_ARRAY = type('_text', 1009, TEXT);

const table: SourceTable = {
  schema: 'public',
  name: 'things',
  primaryKey: ['id'],
  columns: [
    { name: 'id', attnum: 1, notNull: true, typeOid: 20, typmod: -1, formatType: 'bigint', dimensions: 0, type: INT8 },
    { name: 'body', attnum: 2, notNull: false, typeOid: 25, typmod: -1, formatType: 'text', dimensions: 0, type: TEXT },
    {
      name: 'tags',
      attnum: 3,
      notNull: false,
      typeOid: 1009,
      typmod: -1,
      formatType: 'text[]',
      dimensions: 1,
      type: TEXT_ARRAY,
    },
  ],
};

function setup(skipThrough = 0n) {
  const dir = tempDir('pg-cdc-spool-');
  const shape = freshShape(table);
  const spool = new TableSpool('public.things', dir, 0, shape);
  const route: TableRoute = { table: 'public.things', ...routeColumns(shape), spool, skipThrough };
  const commits: Lsn[] = [];
  const assembler = new TransactionAssembler(new Map([['public.things', route]]), {
    onCommit: ({ commitLsn }) => commits.push(commitLsn),
    onMessage: () => undefined,
  });
  const relation: PgoutputMessage = {
    tag: 'relation',
    relationId: 7,
    schema: 'public',
    name: 'things',
    replicaIdentity: 'd',
    columns: table.columns.map((c) => ({ name: c.name, typeOid: c.typeOid, typmod: -1, isKey: c.name === 'id' })),
  };
  assembler.handle(relation);
  return { dir, spool, route, assembler, commits };
}

const lines = (path: string): string[] => readFileSync(path, 'utf8').trimEnd().split('\n');
/** A message from a literal, its tuples given as arrays of values. */
const msg = (m: Record<string, unknown>): PgoutputMessage =>
  Object.fromEntries(
    Object.entries(m).map(([key, value]) => [key, key.endsWith('Tuple') ? Tuple.of(value as TupleValue[]) : value]),
  ) as unknown as PgoutputMessage;

describe('transaction assembly into the spool', () => {
  it('writes rows with their xid, ops, old keys, unchanged TOAST and arrays as JSON', () => {
    const { spool, assembler, commits } = setup();
    assembler.handle(
      msg({ tag: 'begin', xid: 900, finalLsn: asLsn(0x100n), commitTimeMicros: 1_700_000_000_123_456n }),
    );
    assembler.handle(msg({ tag: 'insert', relationId: 7, newTuple: ['1', 'a "quoted", text', '{x,"y z",NULL}'] }));
    assembler.handle(
      msg({ tag: 'update', relationId: 7, keyTuple: ['1', null, null], newTuple: ['2', UNCHANGED_TOAST, null] }),
    );
    assembler.handle(msg({ tag: 'delete', relationId: 7, keyTuple: ['2', null, null] }));
    assert.equal(assembler.inTransaction, true);
    assembler.handle(
      msg({
        tag: 'commit',
        flags: 0,
        commitLsn: asLsn(0x100n),
        endLsn: asLsn(0x130n),
        commitTimeMicros: 1_700_000_000_123_456n,
      }),
    );
    assert.equal(assembler.inTransaction, false);
    assert.deepEqual(commits, [0x100n]);

    const sealed = spool.seal()!;
    assert.equal(sealed.batch.epoch, 1);
    assert.equal(sealed.batch.transactions.length, 1);
    const [txn] = sealed.batch.transactions;
    assert.equal(txn!.xid, '900');
    assert.equal(txn!.commitLsn, '0/100');
    assert.equal(txn!.commitTime, '2023-11-14T22:13:20.123456+00:00');
    assert.equal(txn!.rows, 3);
    assert.equal(sealed.batch.files.length, 1);
    assert.deepEqual(lines(sealed.batch.files[0]!), [
      '"900","0","I",,,"1","a ""quoted"", text","[""x"",""y z"",null]"',
      '"900","1","U","2","1","2",,',
      '"900","2","D",,"2","2",,',
    ]);
    assert.ok(readdirSync(sealed.dir).includes('batch.json'));
  });

  it('skips transactions at or below the committed LSN', () => {
    const { spool, assembler } = setup(0x200n);
    assembler.handle(msg({ tag: 'begin', xid: 1, finalLsn: asLsn(0x200n), commitTimeMicros: 0n }));
    assembler.handle(msg({ tag: 'insert', relationId: 7, newTuple: ['1', 'x', null] }));
    assembler.handle(
      msg({ tag: 'commit', flags: 0, commitLsn: asLsn(0x200n), endLsn: asLsn(0x210n), commitTimeMicros: 0n }),
    );
    assert.equal(spool.seal(), undefined);
  });

  it('drops an aborted subtransaction of a streamed transaction and keeps the rest in order', () => {
    const { spool, assembler } = setup();
    assembler.handle(msg({ tag: 'stream_start', xid: 50, firstSegment: true }));
    assembler.handle(msg({ tag: 'insert', xid: 50, relationId: 7, newTuple: ['1', 'top', null] }));
    assembler.handle(msg({ tag: 'insert', xid: 51, relationId: 7, newTuple: ['2', 'sub, aborted', null] }));
    assembler.handle(msg({ tag: 'stream_stop' }));
    assembler.handle(msg({ tag: 'stream_start', xid: 50, firstSegment: false }));
    assembler.handle(msg({ tag: 'insert', xid: 50, relationId: 7, newTuple: ['3', 'top again', null] }));
    assembler.handle(msg({ tag: 'stream_stop' }));
    assembler.handle(msg({ tag: 'stream_abort', xid: 50, subXid: 51 }));
    assembler.handle(
      msg({
        tag: 'stream_commit',
        xid: 50,
        flags: 0,
        commitLsn: asLsn(0x300n),
        endLsn: asLsn(0x330n),
        commitTimeMicros: 0n,
      }),
    );
    const sealed = spool.seal()!;
    const rows = sealed.batch.files.flatMap((path) => lines(path));
    assert.deepEqual(rows, ['"50","0","I",,,"1","top",', '"50","2","I",,,"3","top again",']);
  });

  it('gathers an epoch of many small transactions into one file, and moves a large one in as its own', () => {
    const { spool, assembler } = setup();
    for (let xid = 1; xid <= 500; xid++) {
      const lsn = BigInt(0x1000 + xid * 0x100);
      assembler.handle(msg({ tag: 'begin', xid, finalLsn: asLsn(lsn), commitTimeMicros: 0n }));
      assembler.handle(msg({ tag: 'insert', relationId: 7, newTuple: [String(xid), 'small', null] }));
      assembler.handle(
        msg({ tag: 'commit', flags: 0, commitLsn: asLsn(lsn), endLsn: asLsn(lsn + 0x10n), commitTimeMicros: 0n }),
      );
    }
    const big = 'x'.repeat(1000);
    assembler.handle(msg({ tag: 'begin', xid: 501, finalLsn: asLsn(0x100000n), commitTimeMicros: 0n }));
    for (let i = 0; i < 600; i++)
      assembler.handle(msg({ tag: 'insert', relationId: 7, newTuple: [`b${i}`, big, null] }));
    assembler.handle(
      msg({ tag: 'commit', flags: 0, commitLsn: asLsn(0x100000n), endLsn: asLsn(0x100010n), commitTimeMicros: 0n }),
    );
    const sealed = spool.seal()!;
    assert.equal(sealed.batch.transactions.length, 501);
    assert.equal(sealed.batch.files.length, 2);
    const [segment, own] = sealed.batch.files.map((path) => lines(path));
    assert.equal(segment!.length, 500);
    assert.equal(segment![499], '"500","0","I",,,"500","small",');
    assert.equal(own!.length, 600);
    assert.ok(own!.every((line) => line.startsWith('"501",')));
    assert.ok(sealed.bytes >= 600 * 1000);
  });

  it('acknowledges no further than the oldest change not yet in the lake', () => {
    const { spool, route, assembler } = setup();
    const checkpoint = new Checkpoint();
    for (const [xid, lsn] of [
      [1, 0x400n],
      [2, 0x500n],
    ] as const) {
      assembler.handle(msg({ tag: 'begin', xid, finalLsn: asLsn(lsn), commitTimeMicros: 0n }));
      assembler.handle(msg({ tag: 'insert', relationId: 7, newTuple: [String(xid), 'x', null] }));
      assembler.handle(
        msg({ tag: 'commit', flags: 0, commitLsn: asLsn(lsn), endLsn: asLsn(lsn + 0x30n), commitTimeMicros: 0n }),
      );
      checkpoint.advanceTo(asLsn(lsn + 0x30n));
    }
    assert.equal(checkpoint.confirmable([route]), 0x400n);
    const sealed = spool.seal()!;
    assert.equal(checkpoint.confirmable([route]), 0x400n);
    spool.committed(sealed.batch.epoch);
    assert.equal(checkpoint.confirmable([route]), 0x530n);
  });
});
