import assert from 'node:assert/strict';
import type { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { CopyOutStream, CopyRowTooLongError } from '../../source/snapshot/copy-out.js';
import { frame, pgConnection } from '../support/pg-wire.js';

/** Feeds the wire bytes in reads of `split` bytes, each a fresh buffer as a socket's reads are. */
function feed(con: { stream: PassThrough }, wire: Buffer, split: number): void {
  for (let at = 0; at < wire.length; at += split) con.stream.write(Buffer.from(wire.subarray(at, at + split)));
}

const rows = Array.from({ length: 400 }, (_, i) =>
  Buffer.from(`${i},"${'x'.repeat(i % 200 === 0 ? 70_000 + i : i % 113)}"\n`),
);
const end = [frame('c', Buffer.alloc(0)), frame('C', Buffer.from('COPY 400\0')), frame('Z', Buffer.from('I'))];
const wire = Buffer.concat([frame('H', Buffer.from([0, 0, 7])), ...rows.map((row) => frame('d', row)), ...end]);

describe('CopyOutStream reads CopyData off the socket', () => {
  for (const split of [1, 3, 5, 4096, 65536, wire.length]) {
    it(`passes on exactly the rows, in socket reads of ${split} bytes`, async () => {
      const { con, toPg } = pgConnection();
      const stream = new CopyOutStream('COPY t TO STDOUT');
      stream.submit(con);
      const out: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => out.push(Buffer.from(chunk)));
      const ended = new Promise((resolve) => stream.once('end', resolve));
      feed(con, wire, split);
      await ended;
      assert.ok(Buffer.concat(out).equals(Buffer.concat(rows)), 'the rows, without headers, in order');
      assert.equal(stream.rowsReceived, rows.length, 'every CopyData message counted as a row');
      assert.ok(Buffer.concat(toPg).equals(Buffer.concat(end.slice(1))), 'pg reads what follows CopyDone');
      assert.equal(con.stream.listeners('data').length, 1, 'the socket is pg’s again');
    });
  }

  it('fails with the row’s length after the copy has ended, and gives the socket back', async () => {
    const { con, toPg } = pgConnection();
    const stream = new CopyOutStream('COPY t TO STDOUT', { maxRowBytes: 50_000 });
    stream.submit(con);
    stream.resume();
    const failed = new Promise<Error>((resolve) => stream.once('error', resolve));
    feed(con, wire, 4096);
    const error = await failed;
    assert.ok(error instanceof CopyRowTooLongError);
    assert.equal(error.rowBytes, rows[0]!.length);
    assert.ok(Buffer.concat(toPg).equals(Buffer.concat(end.slice(1))));
  });
});
