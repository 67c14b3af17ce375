import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { csvRecord } from '../../core/types/index.js';
import { openDuckDB, writeParquetFromCsv } from '../../lake/parquet/writer.js';

describe('writeParquetFromCsv', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-cdc-parquet-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const input = join(dir, 'rows.csv');
  // Distinct rows (no dictionary encoding) of text that compresses better the harder zstd works.
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'];
  const body = (i: number): string =>
    Array.from({ length: 12 }, (_, j) => `${words[(i * 7 + j * j + (i >> 3)) % 8]}${(i * 31 + j) % 997}`).join(' ');
  writeFileSync(input, Array.from({ length: 50_000 }, (_, i) => csvRecord([String(i), body(i)])).join(''));
  const request = (output: string, zstdLevel?: number) => ({
    input,
    csvColumns: { c1: 'BIGINT', c2: 'VARCHAR' },
    select: '"c1" AS "id", "c2" AS "body"',
    fieldIds: "{'id': 1, 'body': 2}",
    output: join(dir, output),
    ...(zstdLevel ? { zstdLevel } : {}),
  });

  it('writes every row at the zstd level asked for', async () => {
    const duck = await openDuckDB({ threads: 1 });
    try {
      const fast = await writeParquetFromCsv(duck.connection, request('fast.parquet', 1));
      const small = await writeParquetFromCsv(duck.connection, request('small.parquet', 19));
      assert.equal(fast.recordCount, 50_000);
      assert.equal(small.recordCount, 50_000);
      assert.ok(
        small.fileSizeInBytes < fast.fileSizeInBytes,
        `level 19 (${small.fileSizeInBytes} bytes) is smaller than level 1 (${fast.fileSizeInBytes} bytes)`,
      );
      const rows = await duck.connection.runAndReadAll(
        `SELECT count(*), sum(id) FROM read_parquet('${join(dir, 'small.parquet')}')`,
      );
      assert.deepEqual(rows.getRows()[0]?.map(Number), [50_000, (49_999 * 50_000) / 2]);
    } finally {
      duck.close();
    }
  });
});
