/**
 * PgoutputDecoder over hand-built messages, byte for byte as PostgreSQL's logicalrep_write_* functions lay them
 * out: every message kind of protocol versions 1 and 2, in-stream xids, and the malformed cases.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Lsn } from '../../core/lsn/index.js';
import { PG_EPOCH_OFFSET_MICROS, PgoutputDecoder, UNCHANGED_TOAST } from '../../source/replication/index.js';
import { withTupleValues } from '../support/tuples.js';
import { PgCdcError } from '../../core/errors/index.js';

/** A tiny big-endian writer for the test messages. */
class Bytes {
  private parts: Buffer[] = [];
  char(c: string): this {
    return this.u8(c.charCodeAt(0));
  }
  u8(v: number): this {
    this.parts.push(Buffer.from([v]));
    return this;
  }
  i16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v);
    this.parts.push(b);
    return this;
  }
  i32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    this.parts.push(b);
    return this;
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    this.parts.push(b);
    return this;
  }
  u64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    this.parts.push(b);
    return this;
  }
  /** A pgoutput timestamp from Unix epoch microseconds. */
  time(unixMicros: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(unixMicros - PG_EPOCH_OFFSET_MICROS);
    this.parts.push(b);
    return this;
  }
  cstring(s: string): this {
    this.parts.push(Buffer.from(s, 'utf8'), Buffer.from([0]));
    return this;
  }
  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  /** TupleData: strings as 't', null as 'n', UNCHANGED_TOAST as 'u'. */
  tuple(values: ReadonlyArray<string | null | typeof UNCHANGED_TOAST>): this {
    this.i16(values.length);
    for (const v of values) {
      if (v === null) this.char('n');
      else if (v === UNCHANGED_TOAST) this.char('u');
      else {
        const bytes = Buffer.from(v, 'utf8');
        this.char('t').i32(bytes.length).raw(bytes);
      }
    }
    return this;
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

const lsn = (v: bigint) => v as Lsn;
const COMMIT_TIME = 1_767_225_600_123_456n; // 2026-01-01T00:00:00.123456Z
const decodeOne = (buf: Buffer): unknown => withTupleValues(new PgoutputDecoder().decode(buf));

describe('pgoutput protocol 1 messages', () => {
  it('begin: final LSN, commit time as Unix microseconds, xid', () => {
    const buf = new Bytes().char('B').u64(0x16_b374d848n).time(COMMIT_TIME).u32(4_000_000_001).done();
    assert.deepEqual(decodeOne(buf), {
      tag: 'begin',
      finalLsn: lsn(0x16_b374d848n),
      commitTimeMicros: COMMIT_TIME,
      xid: 4_000_000_001,
    });
    assert.equal(new Date(Number(COMMIT_TIME / 1000n)).toISOString(), '2026-01-01T00:00:00.123Z');
  });

  it('commit: flags, commit and end LSNs, time', () => {
    const buf = new Bytes().char('C').u8(0).u64(0x1000n).u64(0x1038n).time(COMMIT_TIME).done();
    assert.deepEqual(decodeOne(buf), {
      tag: 'commit',
      flags: 0,
      commitLsn: lsn(0x1000n),
      endLsn: lsn(0x1038n),
      commitTimeMicros: COMMIT_TIME,
    });
  });

  it('relation: names, replica identity and columns with key flags, type oids and typmods', () => {
    const buf = new Bytes()
      .char('R')
      .u32(16_385)
      .cstring('public')
      .cstring('Orders')
      .char('f')
      .i16(3)
      .u8(1)
      .cstring('id')
      .u32(20)
      .i32(-1)
      .u8(0)
      .cstring('amount')
      .u32(1700)
      .i32(((12 << 16) | 2) + 4)
      .u8(0)
      .cstring('note é')
      .u32(25)
      .i32(-1)
      .done();
    assert.deepEqual(decodeOne(buf), {
      tag: 'relation',
      relationId: 16_385,
      schema: 'public',
      name: 'Orders',
      replicaIdentity: 'f',
      columns: [
        { name: 'id', typeOid: 20, typmod: -1, isKey: true },
        { name: 'amount', typeOid: 1700, typmod: 786_438, isKey: false },
        { name: 'note é', typeOid: 25, typmod: -1, isKey: false },
      ],
    });
  });

  it('type: oid, schema and name', () => {
    const buf = new Bytes().char('Y').u32(16_390).cstring('shop').cstring('order_status').done();
    assert.deepEqual(decodeOne(buf), { tag: 'type', typeOid: 16_390, schema: 'shop', name: 'order_status' });
  });

  it('insert: text values, nulls and multi-byte text', () => {
    const buf = new Bytes().char('I').u32(16_385).char('N').tuple(['1', null, 'héllo 🐘', '']).done();
    assert.deepEqual(decodeOne(buf), { tag: 'insert', relationId: 16_385, newTuple: ['1', null, 'héllo 🐘', ''] });
  });

  it('update without an old tuple, with a key tuple (K) and with a full old row (O)', () => {
    const plain = new Bytes().char('U').u32(7).char('N').tuple(['1', UNCHANGED_TOAST, 'b']).done();
    assert.deepEqual(decodeOne(plain), { tag: 'update', relationId: 7, newTuple: ['1', UNCHANGED_TOAST, 'b'] });

    const key = new Bytes().char('U').u32(7).char('K').tuple(['1', null, null]).char('N').tuple(['2', 'a', 'b']).done();
    assert.deepEqual(decodeOne(key), {
      tag: 'update',
      relationId: 7,
      keyTuple: ['1', null, null],
      newTuple: ['2', 'a', 'b'],
    });

    const old = new Bytes().char('U').u32(7).char('O').tuple(['1', 'x', 'y']).char('N').tuple(['1', 'x', 'z']).done();
    assert.deepEqual(decodeOne(old), {
      tag: 'update',
      relationId: 7,
      oldTuple: ['1', 'x', 'y'],
      newTuple: ['1', 'x', 'z'],
    });
  });

  it('delete with a key tuple and with a full old row', () => {
    const key = new Bytes().char('D').u32(7).char('K').tuple(['1', null]).done();
    assert.deepEqual(decodeOne(key), { tag: 'delete', relationId: 7, keyTuple: ['1', null] });
    const old = new Bytes().char('D').u32(7).char('O').tuple(['1', 'x']).done();
    assert.deepEqual(decodeOne(old), { tag: 'delete', relationId: 7, oldTuple: ['1', 'x'] });
  });

  it('keeps every tuple intact while later messages reuse the input buffer and fill many slabs', () => {
    const decoder = new PgoutputDecoder();
    const input = Buffer.alloc(4096);
    const expected: string[][] = [];
    const tuples = [];
    for (let i = 0; i < 5000; i++) {
      // Short values, values longer than a byte-by-byte copy, and one larger than a whole slab.
      const values = [String(i), `é${'x'.repeat(i % 200)}"${i}`, i === 4000 ? 'y'.repeat(300_000) : `z${i}`];
      const message = new Bytes().char('I').u32(9).char('N').tuple(values).done();
      const buf = message.length <= input.length ? input : Buffer.alloc(message.length);
      message.copy(buf);
      const decoded = decoder.decode(buf.subarray(0, message.length));
      buf.fill(0); // what the driver's next read does to its buffer
      assert.equal(decoded.tag, 'insert');
      if (decoded.tag === 'insert') tuples.push(decoded.newTuple);
      expected.push(values);
    }
    assert.deepEqual(
      tuples.map((t) => t.values()),
      expected,
    );
  });

  it('truncate: relation ids and the CASCADE / RESTART IDENTITY options', () => {
    const both = new Bytes().char('T').u32(2).u8(3).u32(10).u32(11).done();
    assert.deepEqual(decodeOne(both), {
      tag: 'truncate',
      relationIds: [10, 11],
      cascade: true,
      restartIdentity: true,
    });
    const restart = new Bytes().char('T').u32(1).u8(2).u32(10).done();
    assert.deepEqual(decodeOne(restart), {
      tag: 'truncate',
      relationIds: [10],
      cascade: false,
      restartIdentity: true,
    });
  });

  it('message: transactional flag, LSN, prefix and binary content, copied out of the input buffer', () => {
    const content = Buffer.from([0, 1, 2, 255, 0x68, 0x69]);
    const buf = new Bytes().char('M').u8(1).u64(0x2000n).cstring('pg-cdc').u32(content.length).raw(content).done();
    const message = decodeOne(buf);
    assert.deepEqual(message, { tag: 'message', transactional: true, lsn: lsn(0x2000n), prefix: 'pg-cdc', content });
    buf.fill(0);
    assert.deepEqual(message.tag === 'message' && [...message.content], [0, 1, 2, 255, 0x68, 0x69]);

    const plain = new Bytes().char('M').u8(0).u64(0x2100n).cstring('p').u32(0).done();
    assert.deepEqual(decodeOne(plain), {
      tag: 'message',
      transactional: false,
      lsn: lsn(0x2100n),
      prefix: 'p',
      content: Buffer.alloc(0),
    });
  });

  it('origin: LSN and name', () => {
    const buf = new Bytes().char('O').u64(0xabcdefn).cstring('node_a').done();
    assert.deepEqual(decodeOne(buf), { tag: 'origin', lsn: lsn(0xabcdefn), name: 'node_a' });
  });

  it('decodes a message that starts at an offset (the XLogData header before it)', () => {
    const body = new Bytes().char('I').u32(5).char('N').tuple(['x']).done();
    const buf = Buffer.concat([Buffer.alloc(25, 0xee), body]);
    assert.deepEqual(withTupleValues(new PgoutputDecoder().decode(buf, 25)), {
      tag: 'insert',
      relationId: 5,
      newTuple: ['x'],
    });
  });
});

describe('pgoutput protocol 2 streaming', () => {
  it('carries the xid on data messages inside stream_start .. stream_stop only', () => {
    const decoder = new PgoutputDecoder();
    const xid = 7_777;
    const messages = [
      new Bytes().char('S').u32(xid).u8(1).done(),
      new Bytes().char('Y').u32(xid).u32(16_390).cstring('public').cstring('mood').done(),
      new Bytes()
        .char('R')
        .u32(xid)
        .u32(9)
        .cstring('public')
        .cstring('t')
        .char('d')
        .i16(1)
        .u8(1)
        .cstring('id')
        .u32(23)
        .i32(-1)
        .done(),
      new Bytes().char('I').u32(xid).u32(9).char('N').tuple(['1']).done(),
      new Bytes().char('U').u32(xid).u32(9).char('K').tuple(['1']).char('N').tuple(['2']).done(),
      new Bytes().char('D').u32(xid).u32(9).char('K').tuple(['2']).done(),
      new Bytes().char('T').u32(xid).u32(1).u8(0).u32(9).done(),
      new Bytes().char('M').u32(xid).u8(1).u64(0x30n).cstring('p').u32(1).raw(Buffer.from('x')).done(),
      new Bytes().char('E').done(),
      new Bytes().char('S').u32(xid).u8(0).done(),
      new Bytes().char('I').u32(xid).u32(9).char('N').tuple(['3']).done(),
      new Bytes().char('E').done(),
      new Bytes().char('c').u32(xid).u8(0).u64(0x40n).u64(0x48n).time(COMMIT_TIME).done(),
      new Bytes().char('I').u32(9).char('N').tuple(['4']).done(),
    ].map((buf) => withTupleValues(decoder.decode(buf)));
    assert.deepEqual(messages, [
      { tag: 'stream_start', xid, firstSegment: true },
      { tag: 'type', xid, typeOid: 16_390, schema: 'public', name: 'mood' },
      {
        tag: 'relation',
        xid,
        relationId: 9,
        schema: 'public',
        name: 't',
        replicaIdentity: 'd',
        columns: [{ name: 'id', typeOid: 23, typmod: -1, isKey: true }],
      },
      { tag: 'insert', xid, relationId: 9, newTuple: ['1'] },
      { tag: 'update', xid, relationId: 9, keyTuple: ['1'], newTuple: ['2'] },
      { tag: 'delete', xid, relationId: 9, keyTuple: ['2'] },
      { tag: 'truncate', xid, relationIds: [9], cascade: false, restartIdentity: false },
      { tag: 'message', xid, transactional: true, lsn: lsn(0x30n), prefix: 'p', content: Buffer.from('x') },
      { tag: 'stream_stop' },
      { tag: 'stream_start', xid, firstSegment: false },
      { tag: 'insert', xid, relationId: 9, newTuple: ['3'] },
      { tag: 'stream_stop' },
      {
        tag: 'stream_commit',
        xid,
        flags: 0,
        commitLsn: lsn(0x40n),
        endLsn: lsn(0x48n),
        commitTimeMicros: COMMIT_TIME,
      },
      { tag: 'insert', relationId: 9, newTuple: ['4'] },
    ]);
    assert.equal(decoder.inStreamXid, undefined);
  });

  it('stream_abort: xid and subtransaction xid', () => {
    const buf = new Bytes().char('A').u32(900).u32(901).done();
    assert.deepEqual(decodeOne(buf), { tag: 'stream_abort', xid: 900, subXid: 901 });
  });
});

describe('malformed input', () => {
  const codeOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (error) {
      assert.ok(error instanceof PgCdcError, `expected a PgCdcError, got ${String(error)}`);
      return `${error.code}: ${error.message}`;
    }
    assert.fail('expected an error');
  };

  it('names an unknown tag byte', () => {
    assert.equal(
      codeOf(() => decodeOne(Buffer.from('Zxyz'))),
      "PGOUTPUT_DECODE: unknown pgoutput message tag 'Z' (0x5a)",
    );
    assert.match(
      codeOf(() => decodeOne(Buffer.alloc(0))),
      /unknown pgoutput message tag end of message/,
    );
  });

  it('rejects binary values: pg-cdc reads text only', () => {
    const buf = new Bytes().char('I').u32(1).char('N').i16(1).char('b').i32(1).u8(1).done();
    assert.match(
      codeOf(() => decodeOne(buf)),
      /^PGOUTPUT_DECODE: pgoutput sent a binary column value/,
    );
  });

  it('rejects cut-short messages and values that run past the end', () => {
    const full = new Bytes().char('B').u64(1n).time(COMMIT_TIME).u32(1).done();
    assert.match(
      codeOf(() => decodeOne(full.subarray(0, 10))),
      /^PGOUTPUT_DECODE: pgoutput message 'B' \(0x42\) is cut short/,
    );
    const value = new Bytes().char('I').u32(1).char('N').i16(1).char('t').i32(100).cstring('short').done();
    assert.match(
      codeOf(() => decodeOne(value)),
      /is cut short/,
    );
  });

  it('rejects an unknown tuple part and an unknown value kind', () => {
    const part = new Bytes().char('U').u32(1).char('X').done();
    assert.match(
      codeOf(() => decodeOne(part)),
      /malformed pgoutput update message: 'X' \(0x58\)/,
    );
    const kind = new Bytes().char('I').u32(1).char('N').i16(1).char('q').done();
    assert.match(
      codeOf(() => decodeOne(kind)),
      /malformed pgoutput tuple message: 'q' \(0x71\)/,
    );
  });
});
