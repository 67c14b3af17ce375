/**
 * npm run bench:parquet — parquetjs-lite against DuckDB through our writer (lake/parquet/writer.ts), writing the
 * same rows into Parquet, in one process, in interleaved rounds. Each side gets the rows in the form it takes:
 * parquetjs-lite JS objects (made before the clock starts), DuckDB the CSV text our snapshot and stream hand it
 * (core/types/csv.ts; parsing it is timed). DuckDB runs on one thread, as one snapshot chunk does, and writes zstd
 * at level 1 (`init.zstd_level`'s default); parquetjs-lite writes SNAPPY, the faster of its two codecs.
 * Prints each round, the medians' rows/s, file sizes and their ratios, and the ratio of each side's fastest round.
 * BENCH_ROWS (default 500 000), BENCH_ROUNDS (default 3).
 */
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import parquet from 'parquetjs-lite';
import { openDuckDB, writeParquetFromCsv } from '../lake/parquet/writer.js';
import { tempDir } from '../test/support/stack.js';
import { median } from './stats.js';

const rowCount = Number(process.env.BENCH_ROWS ?? 500_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const perSecond = (ms: number): string => `${Math.round(rowCount / (ms / 1000)).toLocaleString('en-US')} rows/s`;
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

interface Row {
  id: number;
  customer_id: number;
  amount: number;
  status: string;
  placed_at: Date;
  note: string | null;
}

const STATUSES = ['new', 'paid', 'shipped', 'cancelled'];
const EPOCH_MS = Date.UTC(2026, 0, 1);
const rows: Row[] = Array.from({ length: rowCount }, (_, i) => ({
  id: i + 1,
  customer_id: (i * 7919) % 5000,
  amount: ((i * 104_729) % 100_000) / 100,
  status: STATUSES[i % STATUSES.length]!,
  placed_at: new Date(EPOCH_MS + i * 1000),
  note: i % 3 === 0 ? null : `note ${i}`,
}));

// What PostgreSQL's COPY writes for these rows in our dialect: no value holds a separator, so none is quoted, and
// NULL is an empty field.
const csv = rows
  .map(
    (r) =>
      `${r.id}\x1f${r.customer_id}\x1f${r.amount}\x1f${r.status}\x1f${r.placed_at.toISOString()}\x1f${r.note ?? ''}\n`,
  )
  .join('');

const parquetjsSchema = new parquet.ParquetSchema({
  id: { type: 'INT64', compression: 'SNAPPY' },
  customer_id: { type: 'INT32', compression: 'SNAPPY' },
  amount: { type: 'DOUBLE', compression: 'SNAPPY' },
  status: { type: 'UTF8', compression: 'SNAPPY' },
  placed_at: { type: 'TIMESTAMP_MILLIS', compression: 'SNAPPY' },
  note: { type: 'UTF8', optional: true, compression: 'SNAPPY' },
});

const work = tempDir('pg-cdc-bench-parquet-');
const duck = await openDuckDB({ threads: 1 });
try {
  const input = join(work, 'rows.csv');
  writeFileSync(input, csv);
  mkdirSync(join(work, 'out'));

  const writeWithParquetjs = async (output: string): Promise<number> => {
    // Row groups as large as DuckDB's (its default): parquetjs-lite's own default of 4 096 rows is slower and larger.
    const writer = await parquet.ParquetWriter.openFile(parquetjsSchema, output, { rowGroupSize: 122_880 });
    for (const row of rows) await writer.appendRow(row);
    await writer.close();
    return statSync(output).size;
  };
  const writeWithDuckDB = async (output: string): Promise<number> => {
    const written = await writeParquetFromCsv(duck.connection, {
      input,
      csvColumns: {
        id: 'BIGINT',
        customer_id: 'INTEGER',
        amount: 'DOUBLE',
        status: 'VARCHAR',
        placed_at: 'TIMESTAMPTZ',
        note: 'VARCHAR',
      },
      select: 'id, customer_id, amount, status, placed_at, note',
      fieldIds: '{id: 1, customer_id: 2, amount: 3, status: 4, placed_at: 5, note: 6}',
      output,
      zstdLevel: 1,
    });
    if (written.recordCount !== rowCount) throw new Error(`DuckDB wrote ${written.recordCount} rows`);
    return written.fileSizeInBytes;
  };
  const sides: [string, (output: string) => Promise<number>][] = [
    ['DuckDB', writeWithDuckDB],
    ['parquetjs-lite', writeWithParquetjs],
  ];

  say(
    `bench:parquet — ${rowCount.toLocaleString('en-US')} rows × 6 columns (bigint, int, double, text, timestamptz, ` +
      `nullable text), CSV ${mib(csv.length)}; DuckDB zstd level 1 on 1 thread, parquetjs-lite SNAPPY`,
  );
  const times = new Map<string, number[]>(sides.map(([name]) => [name, []]));
  const sizes = new Map<string, number>();
  for (let round = 1; round <= rounds; round++) {
    // Interleaved, each round in another order, so that neither side always runs on a warmer (or busier) machine.
    const order = round % 2 === 1 ? sides : [...sides].reverse();
    const line: string[] = [];
    for (const [name, write] of order) {
      const output = join(work, 'out', `${name}-${round}.parquet`);
      const start = process.hrtime.bigint();
      sizes.set(name, await write(output));
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      times.get(name)!.push(ms);
      line.push(`${name} ${perSecond(ms)}`);
      if (round === 1) {
        // Both files hold the same rows: the check DuckDB can make of any Parquet file.
        const check = await duck.connection.runAndReadAll(
          `SELECT count(*)::BIGINT, sum(id)::BIGINT, count(note)::BIGINT FROM read_parquet('${output}')`,
        );
        const [count, ids, notes] = check.getRows()[0]!.map(Number);
        const expected = [rowCount, (rowCount * (rowCount + 1)) / 2, rows.filter((r) => r.note !== null).length];
        if (count !== expected[0] || ids !== expected[1] || notes !== expected[2]) {
          throw new Error(`${name}'s file reads back as ${[count, ids, notes].join('/')}, not ${expected.join('/')}`);
        }
      }
      rmSync(output);
    }
    say(`round ${round}: ${line.join(', ')}`);
  }
  const medianOf = (name: string): number => median(times.get(name)!);
  const bestOf = (name: string): number => Math.min(...times.get(name)!);
  for (const [name] of sides) say(`${name}: median ${perSecond(medianOf(name))}, file ${mib(sizes.get(name)!)}`);
  say(
    `DuckDB vs parquetjs-lite: ${(medianOf('parquetjs-lite') / medianOf('DuckDB')).toFixed(1)}x the rows/s (medians), ` +
      `${(bestOf('parquetjs-lite') / bestOf('DuckDB')).toFixed(1)}x (fastest rounds); ` +
      `files ${(sizes.get('DuckDB')! / sizes.get('parquetjs-lite')!).toFixed(2)} of parquetjs-lite's size`,
  );
} finally {
  duck.close();
  rmSync(work, { recursive: true, force: true });
}
