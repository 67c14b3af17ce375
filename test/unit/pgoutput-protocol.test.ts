/**
 * The pieces of the replication reader that need no server: the START_REPLICATION command, the status
 * update and keepalive layouts, and the bounded queue's pause/resume.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PgCdcError } from '../../core/errors/index.js';
import { asLsn, parseLsn, ZERO_LSN } from '../../core/lsn/index.js';
import {
  PG_EPOCH_OFFSET_MICROS,
  standbyStatusUpdate,
  startReplicationCommand,
} from '../../source/replication/index.js';
import { readTimestamp, readUint64 } from '../../source/replication/wire.js';
import { readKeepalive } from '../../source/replication/protocol.js';
import { BoundedQueue } from '../../source/replication/queue.js';

describe('64-bit wire values', () => {
  it('reads unsigned LSNs exactly across the whole range', () => {
    const buf = Buffer.alloc(8);
    for (const value of [0n, 1n, 0xffffffffn, 1n << 32n, (1n << 53n) - 1n, 1n << 53n, (1n << 64n) - 1n]) {
      buf.writeBigUInt64BE(value);
      assert.equal(readUint64(buf, 0), value);
    }
  });

  it('turns timestamps since 2000 into Unix epoch microseconds exactly, however large', () => {
    const buf = Buffer.alloc(8);
    for (const value of [
      0n,
      -1n,
      1n,
      820_540_800_123_456n,
      -PG_EPOCH_OFFSET_MICROS,
      (1n << 52n) - 1n,
      1n << 52n,
      -(1n << 63n),
      (1n << 63n) - 1n,
    ]) {
      buf.writeBigInt64BE(value);
      assert.equal(readTimestamp(buf, 0), value + PG_EPOCH_OFFSET_MICROS, String(value));
    }
  });
});

describe('START_REPLICATION', () => {
  it('quotes the slot and every publication name inside the literal', () => {
    assert.equal(
      startReplicationCommand({
        slot: 'pg_cdc_slot',
        publications: ['pg_cdc_pub', 'Odd, \'name"'],
        startLsn: parseLsn('16/B374D848'),
        protoVersion: 2,
        streaming: true,
        messages: true,
      }),
      `START_REPLICATION SLOT pg_cdc_slot LOGICAL 16/B374D848 (proto_version '2', publication_names 'pg_cdc_pub,"Odd, ''name"""', messages 'true', streaming 'on')`,
    );
    assert.equal(
      startReplicationCommand({
        slot: 'Slot',
        publications: ['p'],
        startLsn: ZERO_LSN,
        protoVersion: 1,
        streaming: false,
        messages: false,
      }),
      `START_REPLICATION SLOT "Slot" LOGICAL 0/0 (proto_version '1', publication_names 'p')`,
    );
  });

  it('refuses streaming on protocol 1', () => {
    assert.throws(
      () =>
        startReplicationCommand({
          slot: 's',
          publications: ['p'],
          startLsn: ZERO_LSN,
          protoVersion: 1,
          streaming: true,
          messages: false,
        }),
      { code: 'REPLICATION_OPTIONS_INVALID' },
    );
  });
});

describe('standby status update and keepalive', () => {
  it('writes r, three positions, the clock since 2000 and the reply flag', () => {
    const before = BigInt(Date.now()) * 1000n - PG_EPOCH_OFFSET_MICROS;
    const buf = standbyStatusUpdate(asLsn(0x30n), asLsn(0x20n), asLsn(0x10n), true);
    assert.equal(buf.length, 34);
    assert.equal(String.fromCharCode(buf[0]!), 'r');
    assert.deepEqual([buf.readBigUInt64BE(1), buf.readBigUInt64BE(9), buf.readBigUInt64BE(17)], [0x30n, 0x20n, 0x10n]);
    const clock = buf.readBigInt64BE(25);
    assert.ok(clock >= before && clock < before + 60_000_000n, `clock ${clock} near ${before}`);
    assert.equal(buf[33], 1);
  });

  it('reads a primary keepalive', () => {
    const buf = Buffer.alloc(18);
    buf[0] = 0x6b;
    buf.writeBigUInt64BE(0x1234n, 1);
    buf.writeBigInt64BE(5n, 9);
    buf[17] = 1;
    assert.deepEqual(readKeepalive(buf), {
      kind: 'keepalive',
      walEnd: 0x1234n,
      serverTimeMicros: 5n + PG_EPOCH_OFFSET_MICROS,
      replyRequested: true,
    });
  });
});

describe('BoundedQueue', () => {
  it('pauses the producer at the high-water mark and resumes once drained to half', async () => {
    const calls: string[] = [];
    const queue = new BoundedQueue<number>(4, { pause: () => calls.push('pause'), resume: () => calls.push('resume') });
    for (let i = 0; i < 6; i++) queue.push(i);
    assert.deepEqual(calls, ['pause']);
    assert.equal(queue.stats.paused, true);
    const got: number[] = [];
    for (let i = 0; i < 3; i++) got.push((await queue.next()).value!);
    assert.deepEqual(calls, ['pause']);
    got.push((await queue.next()).value!);
    assert.deepEqual(calls, ['pause', 'resume']);
    assert.equal(queue.stats.paused, false);
    assert.ok(queue.stats.pausedMs >= 0);
    queue.end(new PgCdcError('REPLICATION_CONNECTION_LOST', 'boom'));
    got.push((await queue.next()).value!, (await queue.next()).value!);
    assert.deepEqual(got, [0, 1, 2, 3, 4, 5]);
    await assert.rejects(queue.next(), { code: 'REPLICATION_CONNECTION_LOST' });
  });

  it('hands an item straight to a waiting consumer and ends cleanly', async () => {
    const queue = new BoundedQueue<string>(2, { pause: () => undefined, resume: () => undefined });
    const waiting = queue.next();
    queue.push('a');
    assert.deepEqual(await waiting, { value: 'a', done: false });
    const last = queue.next();
    queue.end();
    assert.deepEqual(await last, { value: undefined, done: true });
  });
});
