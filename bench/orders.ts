/**
 * The benches' state table: `bench.orders_<rows>`, generated straight to Parquet by DuckDB and committed as the
 * snapshot base, then fed epochs of updates, deletes and inserts spread over the table, through the real epoch
 * commit (lake/state) as the stream would send them. Shared by bench:epoch and bench:compact.
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import { formatLsn } from '../core/lsn/index.js';
import { planTable } from '../core/types/index.js';
import type { SourceTable, SourceType } from '../core/types/source.js';
import { pgcdcSummary } from '../lake/contract/index.js';
import { appendFiles, createTable, type DataFile } from '../lake/iceberg/table.js';
import { openLake } from '../lake/open.js';
import type { OpenDuckDB } from '../lake/parquet/writer.js';
import type { EpochContext } from '../lake/state/index.js';
import type { ChangeBatch, ChangeCodec, CommittedTransaction } from '../lake/state/types.js';
import { changeCodec } from '../stream/codec.js';

/** What each epoch holds, spread over `TRANSACTIONS` transactions. */
export interface EpochWork {
  readonly updates: number;
  readonly deletes: number;
  readonly inserts: number;
}

const ROWS_PER_FILE = 1_000_000;
const TRANSACTIONS = 100;
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const count = (n: number): string => n.toLocaleString('en-US');

const type = (name: string, typmod = -1): SourceType => ({
  oid: 0,
  schema: 'pg_catalog',
  name,
  typmod,
  category: 'X',
  isEnum: false,
});
const columns: [string, SourceType, boolean][] = [
  ['id', type('int8'), true],
  ['customer', type('text'), false],
  ['amount', type('numeric', ((12 << 16) | 2) + 4), false],
  ['placed_at', type('timestamptz'), false],
  ['note', type('text'), false],
];
const source: SourceTable = {
  schema: 'bench',
  name: 'orders',
  primaryKey: ['id'],
  columns: columns.map(([name, t, notNull], i) => ({
    name,
    attnum: i + 1,
    notNull,
    typeOid: 0,
    typmod: t.typmod,
    formatType: t.name,
    dimensions: 0,
    type: t,
  })),
};

/** Deterministic pseudo-random numbers (mulberry32), so every table gets the same shape of work. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const csvRow = (values: readonly (string | null)[]): string =>
  `${values.map((v) => (v === null ? '' : `"${v.replace(/"/g, '""')}"`)).join(',')}\n`;
const orderValues = (id: number, tag: string): string[] => [
  String(id),
  `customer-${id % 50_000}`,
  ((id % 100_000) / 7).toFixed(2),
  '2026-03-01 10:00:00+00',
  `${tag} ${id}`,
];

export interface BenchTable {
  readonly rows: number;
  readonly dir: string;
  readonly ctx: EpochContext;
  readonly codec: ChangeCodec;
  nextBatch(): ChangeBatch;
  /** Phases (ms) of the latest epoch, from its log line. */
  breakdown(): string;
  readonly steadyMs: number[];
  coldMs: number;
}

/** A state table of `rows` rows, generated straight to Parquet and committed as the snapshot base. */
export async function benchTable(duck: OpenDuckDB, work: string, rows: number, work_: EpochWork): Promise<BenchTable> {
  const { updates, deletes, inserts } = work_;
  const dir = join(work, String(rows));
  const warehouse = join(dir, 'warehouse');
  const { store, catalog } = openLake({ storage: { type: 'filesystem', path: warehouse }, catalog: { type: 'local' } });
  const plan = planTable(source);
  const identifier = `bench.orders_${rows}`;
  const location = `bench/orders_${rows}`;
  await createTable(store, catalog, { identifier, location, schema: plan.schema });
  const started = Date.now();
  const files: DataFile[] = [];
  for (let from = 0; from < rows; from += ROWS_PER_FILE) {
    const key = `${location}/data/base-${from / ROWS_PER_FILE}.parquet`;
    const path = store.localPath(key) ?? join(warehouse, key);
    mkdirSync(dirname(path), { recursive: true });
    const reader = await duck.connection.runAndReadAll(
      `COPY (SELECT range AS id, 'customer-' || (range % 50000) AS customer, ` +
        `CAST((range % 100000) / 7 AS DECIMAL(12,2)) AS amount, ` +
        `TIMESTAMPTZ '2026-01-01 00:00:00+00' + range * INTERVAL 1 SECOND AS placed_at, ` +
        `CASE WHEN range % 4 = 0 THEN NULL ELSE 'note ' || md5(range::VARCHAR) END AS note ` +
        `FROM range(${from}, ${Math.min(rows, from + ROWS_PER_FILE)})) TO '${path}' ` +
        `(FORMAT parquet, COMPRESSION zstd, FIELD_IDS ${plan.fieldIds()})`,
    );
    const recordCount = Number(reader.getRows()[0]![0]);
    files.push({ path: store.uri(key), recordCount, fileSizeInBytes: statSync(path).size });
  }
  await appendFiles(store, catalog, identifier, {
    dataFiles: files,
    snapshotId: 1n,
    summary: pgcdcSummary({ kind: 'snapshot', epoch: 0, lsn: formatLsn(0x1000n) }),
  });
  say(
    `${count(rows)} rows: base of ${files.length} Parquet file(s) generated and committed in ${seconds(Date.now() - started)}`,
  );

  const logged: { msg?: string; phases?: Record<string, number> }[] = [];
  const log = pino(
    { level: 'info' },
    { write: (line: string) => void logged.push(JSON.parse(line) as (typeof logged)[0]) },
  );
  const next = random(42);
  const deleted = new Set<number>();
  let nextId = rows;
  let lsn = 0x1000;
  let epoch = 0;
  const pick = (): number => {
    for (;;) {
      const id = Math.floor(next() * rows);
      if (!deleted.has(id)) return id;
    }
  };
  return {
    rows,
    dir,
    ctx: { store, catalog, duckdb: duck.instance, locatorDir: join(dir, 'locators'), log },
    codec: changeCodec(source, plan),
    steadyMs: [],
    coldMs: 0,
    breakdown: () =>
      Object.entries(logged.findLast((r) => r.msg === 'epoch committed')?.phases ?? {})
        .map(([name, ms]) => `${name} ${ms}`)
        .join(', '),
    nextBatch(): ChangeBatch {
      epoch += 1;
      // [_op, old key (k1), row]: updates and inserts carry no old key; deletes the old key and the old row.
      const changes: [string, string | null, string[]][] = [];
      for (let i = 0; i < updates; i++) changes.push(['U', null, orderValues(pick(), `update e${epoch}`)]);
      for (let i = 0; i < deletes; i++) {
        const id = pick();
        deleted.add(id);
        changes.push(['D', String(id), orderValues(id, 'old')]);
      }
      for (let i = 0; i < inserts; i++) changes.push(['I', null, orderValues(nextId++, 'insert')]);
      const perTransaction = Math.ceil(changes.length / TRANSACTIONS);
      // One segment file per epoch, as the spool writes small transactions.
      const path = join(dir, 'spool', `e${epoch}.csv`);
      mkdirSync(dirname(path), { recursive: true });
      const transactions: CommittedTransaction[] = [];
      const lines: string[] = [];
      for (let t = 0; t * perTransaction < changes.length; t++) {
        const slice = changes.slice(t * perTransaction, (t + 1) * perTransaction);
        const xid = String(1000 + epoch * TRANSACTIONS + t);
        for (const [seq, [op, old, row]] of slice.entries())
          lines.push(csvRow([xid, String(seq), op, null, old, ...row]));
        lsn += 0x1000;
        transactions.push({
          xid,
          commitLsn: formatLsn(BigInt(lsn)),
          commitTime: '2026-03-01T10:00:00.000000+00:00',
          rows: slice.length,
        });
      }
      writeFileSync(path, lines.join(''));
      return { table: identifier, epoch, files: [path], transactions };
    },
  };
}
