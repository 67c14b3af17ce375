import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { findPostgresBinaries } from '../../stack/postgres-binaries.js';
import { copyOut, CopyRowTooLongError } from '../../source/snapshot/copy-out.js';
import { freshDatabase } from '../support/stack.js';

const ROWS = `
CREATE TABLE mixed (id int PRIMARY KEY, body text, note text);
INSERT INTO mixed
SELECT g,
       CASE WHEN g % 997 = 0 THEN repeat(md5(g::text), 10000)
            WHEN g % 3 = 0 THEN 'quote " comma , newline
 naïve ☃'
            ELSE md5(g::text) END,
       CASE WHEN g % 5 = 0 THEN NULL WHEN g % 7 = 0 THEN '' ELSE 'n' END
FROM generate_series(1, 20000) AS g;`;

const COPY = 'COPY (SELECT * FROM mixed ORDER BY id) TO STDOUT WITH (FORMAT csv)';

/** Everything a stream yields, concatenated; a slow reader takes a while over each chunk, so the copy must wait. */
async function collect(stream: NodeJS.ReadableStream, options: { slow?: boolean } = {}): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(
    stream,
    new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _encoding, done) {
        parts.push(chunk);
        if (options.slow) setTimeout(done, 2);
        else done();
      },
    }),
  );
  return Buffer.concat(parts);
}

describe('COPY TO STDOUT read straight off the socket', { timeout: 120_000 }, () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let client: pg.Client;
  let expected: Buffer;

  before(async () => {
    db = await freshDatabase('copyout');
    await db.sql(ROWS);
    const psql = join(findPostgresBinaries().binDir, 'psql');
    expected = execFileSync(psql, ['-X', '-q', db.url(), '-c', COPY], { maxBuffer: 1 << 30 });
    client = new pg.Client({ connectionString: db.url() });
    await client.connect();
  });
  after(async () => {
    await client?.end();
  });

  const stillUsable = async (): Promise<void> => {
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM mixed');
    assert.equal(rows[0]?.n, 20000, 'the connection answers the next query');
  };

  it('yields exactly the bytes psql writes, and the row count', async () => {
    const stream = client.query(copyOut(COPY));
    const bytes = await collect(stream);
    assert.ok(expected.length > 6_000_000, 'long rows span many socket reads and output buffers');
    assert.ok(bytes.equals(expected), `got ${bytes.length} bytes, psql wrote ${expected.length}`);
    assert.equal(stream.rowCount, 20000);
    await stillUsable();
  });

  it('waits for a slow reader, then gives the connection back', async () => {
    const stream = client.query(copyOut(COPY));
    const bytes = await collect(stream, { slow: true });
    assert.equal(stream.rowCount, 20000);
    assert.ok(bytes.equals(expected));
    await stillUsable();
  });

  it('refuses a row longer than the limit, after reading the copy to its end', async () => {
    const stream = client.query(copyOut(COPY, { maxRowBytes: 100_000 }));
    await assert.rejects(collect(stream), (error: unknown) => {
      assert.ok(error instanceof CopyRowTooLongError);
      assert.equal(error.code, 'ROW_TOO_LONG');
      assert.equal(error.rowBytes, '997,'.length + 320_000 + ',n\n'.length);
      return true;
    });
    await stillUsable();
  });

  it('passes on an error the server raises mid-copy', async () => {
    const failing = 'COPY (SELECT id, 1 / (id - 15000) FROM mixed ORDER BY id) TO STDOUT WITH (FORMAT csv)';
    await assert.rejects(collect(client.query(copyOut(failing))), { code: '22012' });
    await stillUsable();
  });

  it('leaves the connection usable when its reader stops early', async () => {
    const stream = client.query(copyOut(COPY));
    await new Promise<void>((resolve, reject) => {
      stream.once('data', () => {
        stream.destroy();
        resolve();
      });
      stream.once('error', reject);
    });
    await stillUsable();
  });
});
