import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type pg from 'pg';
import { CopyBothQuery } from '../../source/replication/copy-both.js';
import { frame, pgConnection } from '../support/pg-wire.js';

describe('CopyBothQuery reads CopyData off the socket', () => {
  const payloads = Array.from({ length: 300 }, (_, i) =>
    Buffer.alloc(i % 50 === 0 ? 200_000 + i : 1 + (i % 97), String.fromCharCode(97 + (i % 26))),
  );
  const wire = Buffer.concat([
    frame('W', Buffer.from([0, 0, 0])),
    ...payloads.flatMap((p, i) => (i === 7 ? [frame('N', Buffer.from('notice\0')), frame('d', p)] : [frame('d', p)])),
    frame('c', Buffer.alloc(0)),
    frame('C', Buffer.from('COPY 0\0')),
    frame('Z', Buffer.from('I')),
  ]);

  for (const split of [1, 3, 4096, 65536, wire.length]) {
    it(`gives every payload whole and everything else to pg, in socket reads of ${split} bytes`, () => {
      const { con, toPg } = pgConnection();
      const seen: Buffer[] = [];
      const query = new CopyBothQuery('START_REPLICATION', {
        started: () => undefined,
        data: (chunk) => seen.push(Buffer.from(chunk)),
        failed: (error) => assert.fail(String(error)),
        finished: () => undefined,
      });
      query.submit(con as unknown as pg.Connection);
      for (let at = 0; at < wire.length; at += split) con.stream.write(wire.subarray(at, at + split));
      assert.equal(seen.length, payloads.length);
      seen.forEach((chunk, i) => assert.ok(chunk.equals(payloads[i]!), `payload ${i}`));
      const pgGot = Buffer.concat(toPg);
      const tail = Buffer.concat([
        frame('c', Buffer.alloc(0)),
        frame('C', Buffer.from('COPY 0\0')),
        frame('Z', Buffer.from('I')),
      ]);
      assert.ok(
        pgGot.equals(Buffer.concat([frame('W', Buffer.from([0, 0, 0])), frame('N', Buffer.from('notice\0')), tail])),
        'pg sees CopyBothResponse, the notice and the end of the command, never CopyData',
      );
      assert.deepEqual(con.stream.listeners('data').length, 1, 'the socket is pg’s again');
    });
  }

  it('drops CopyData the server sends after its CopyDone, and hands pg the end of the command', () => {
    const { con, toPg } = pgConnection();
    const seen: string[] = [];
    const query = new CopyBothQuery('START_REPLICATION', {
      started: () => undefined,
      data: (chunk) => seen.push(chunk.toString()),
      failed: (error) => assert.fail(String(error)),
      finished: () => undefined,
    });
    query.submit(con as unknown as pg.Connection);
    const end = [frame('C', Buffer.from('START_REPLICATION\0')), frame('Z', Buffer.from('I'))];
    // What a walsender sends when our CopyDone reaches it while it waits to write a large transaction.
    const wire = [
      frame('d', Buffer.from('before')),
      frame('c', Buffer.alloc(0)),
      frame('d', Buffer.from('late 1')),
      frame('d', Buffer.from('late 2')),
      ...end,
    ];
    for (const message of wire) con.stream.write(message);
    assert.deepEqual(seen, ['before']);
    assert.ok(
      Buffer.concat(toPg).equals(Buffer.concat([frame('c', Buffer.alloc(0)), ...end])),
      'pg never sees CopyData',
    );
    assert.equal(con.stream.listeners('data').length, 1, 'the socket is pg’s again');
  });

  it('hands an ErrorResponse and what follows to pg', () => {
    const { con, toPg } = pgConnection();
    const query = new CopyBothQuery('START_REPLICATION', {
      started: () => undefined,
      data: () => undefined,
      failed: () => undefined,
      finished: () => undefined,
    });
    query.submit(con as unknown as pg.Connection);
    const error = frame('E', Buffer.from('SERROR\0\0'));
    con.stream.write(Buffer.concat([frame('d', Buffer.from('x')), error, frame('Z', Buffer.from('I'))]));
    assert.ok(Buffer.concat(toPg).equals(Buffer.concat([error, frame('Z', Buffer.from('I'))])));
  });
});
