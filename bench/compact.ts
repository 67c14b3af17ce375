/**
 * npm run bench:compact — a 1 M-row state table (BENCH_ROWS) after 1,000 small epochs (BENCH_EPOCHS) of
 * pgbench-like updates (BENCH_UPDATES updates and BENCH_DELETES deletes each, through the real epoch commit), then
 * compacted (rewrite, commit, snapshot expiry and cleanup, as `pg-cdc compact` runs them). It prints, measured in the
 * same run:
 * - files and metadata bytes, before and after;
 * - a read of the table (plan its live files, then one aggregate over the live rows in DuckDB: what the governed
 *   engine does under its views), p50 of BENCH_READS (11), before and after, and against a fresh snapshot of the
 *   same rows (one file, no deletes; target: after ≤ 1.2× fresh), read in turn with the table after compaction;
 * - compaction time against DuckDB writing the same live rows to Parquet directly (its faster of two runs; target
 *   ≥ 0.5×): the rewrite and its commit, which is what compacting the rows costs; and apart, the whole maintenance
 *   with the expiry and cleanup of the epochs' 900 snapshots, whose cost grows with the snapshots, not the rows;
 * - the process's peak RSS.
 * Stream throughput while compacting needs the stream: bench:compact-stream measures it.
 */
import { rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commitRewrite } from '../lake/compaction/commit.js';
import { fieldIdsOf } from '../lake/compaction/order.js';
import { commitMaintenance, rewritePart } from '../lake/compaction/maintain.js';
import { currentSchema } from '../lake/iceberg/metadata.js';
import { appendFiles, createTable, loadTableMetadata } from '../lake/iceberg/table.js';
import { openLake } from '../lake/open.js';
import { openDuckDB, type OpenDuckDB } from '../lake/parquet/writer.js';
import { currentDataFiles } from '../lake/reader.js';
import { liveRowsSql } from '../lake/scan.js';
import { commitEpoch } from '../lake/state/index.js';
import { copyToLake } from '../lake/state/duck.js';
import { settleLocatorUpdates } from '../lake/state/locator-updates.js';
import type { ObjectStore } from '../lake/storage/index.js';
import { benchTable, type BenchTable } from './orders.js';
import { median } from './stats.js';

const rows = Number(process.env.BENCH_ROWS ?? 1_000_000);
const epochs = Number(process.env.BENCH_EPOCHS ?? 1000);
const updates = Number(process.env.BENCH_UPDATES ?? 20);
const deletes = Number(process.env.BENCH_DELETES ?? 2);
const reads = Number(process.env.BENCH_READS ?? 11);
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;

interface Footprint {
  readonly files: number;
  readonly dataBytes: number;
  readonly metadataFiles: number;
  readonly metadataBytes: number;
}

async function footprint(store: ObjectStore, location: string): Promise<Footprint> {
  const size = (key: string): number => statSync(store.localPath(key)!).size;
  const data = await store.list(`${location}/data/`);
  const metadata = await store.list(`${location}/metadata/`);
  return {
    files: data.length,
    dataBytes: data.reduce((n, key) => n + size(key), 0),
    metadataFiles: metadata.length,
    metadataBytes: metadata.reduce((n, key) => n + size(key), 0),
  };
}

const describe = (f: Footprint): string =>
  `${f.files} data/delete files (${mib(f.dataBytes)}), ${f.metadataFiles} metadata files (${mib(f.metadataBytes)})`;

/** The p50 of a read of one table, and of its two parts: planning its live files, and the aggregate in DuckDB. */
interface ReadTimes {
  readonly total: number;
  readonly plan: number;
  readonly scan: number;
  /** The aggregate's answer, so that two tables said to hold the same rows can be checked to. */
  readonly answer: string;
}

/**
 * Plans each table's live files and aggregates its live rows: p50 over `reads` runs each, in ms. The tables are
 * read in turn, so that load from elsewhere on the machine falls on each alike.
 */
async function readP50(duck: OpenDuckDB, table: BenchTable, ...identifiers: string[]): Promise<ReadTimes[]> {
  const { store, catalog } = table.ctx;
  const times = identifiers.map(() => ({ total: [] as number[], plan: [] as number[], scan: [] as number[] }));
  const answers = identifiers.map(() => '');
  for (let i = 0; i < reads; i++) {
    for (const [at, identifier] of identifiers.entries()) {
      const started = performance.now();
      const files = await currentDataFiles(store, catalog, identifier);
      const planned = performance.now();
      const live = liveRowsSql(files, { select: 'd.id, d.amount' })!;
      const result = await duck.connection.runAndReadAll(`SELECT count(*), sum(amount) FROM (${live})`);
      answers[at] = JSON.stringify(result.getRows()[0], (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
      const done = performance.now();
      times[at]!.total.push(done - started);
      times[at]!.plan.push(planned - started);
      times[at]!.scan.push(done - planned);
    }
  }
  return times.map((t, at) => ({
    total: median(t.total),
    plan: median(t.plan),
    scan: median(t.scan),
    answer: answers[at]!,
  }));
}

/** The tables compared hold the same rows, or the comparison means nothing: stop rather than print it. */
function sameAnswer(what: string, ...reads: ReadTimes[]): void {
  const answers = new Set(reads.map((read) => read.answer));
  if (answers.size !== 1) throw new Error(`${what}: the reads disagree: ${[...answers].join(' / ')}`);
}

const parts = (t: ReadTimes): string =>
  `${t.total.toFixed(0)} ms (plan ${t.plan.toFixed(1)}, scan ${t.scan.toFixed(1)})`;

const work = join(tmpdir(), `pg-cdc-bench-compact-${process.pid}`);
const duck = await openDuckDB({ memoryLimit: '1GB' });
try {
  say(
    `bench:compact — ${rows.toLocaleString('en-US')} rows, ${epochs} epochs of ${updates} updates + ${deletes} deletes`,
  );
  const table = await benchTable(duck, work, rows, { updates, deletes, inserts: 0 });
  const identifier = `bench.orders_${rows}`;
  const { store, catalog } = table.ctx;
  const location = (await loadTableMetadata(store, catalog, identifier)).location;
  const fedAt = performance.now();
  for (let epoch = 1; epoch <= epochs; epoch++) {
    await commitEpoch(table.ctx, table.nextBatch(), table.codec);
    if (epoch % 100 === 0) say(`  ${epoch} epochs committed (${seconds(performance.now() - fedAt)})`);
  }
  await settleLocatorUpdates();

  const before = await footprint(store, location);
  const [readBefore] = (await readP50(duck, table, identifier)) as [ReadTimes];

  // DuckDB alone, writing the same live rows to one Parquet file: the floor a rewrite cannot beat. The faster of
  // two runs: the first reads the epochs' files cold, which the rewrite after it then finds warm.
  const files = await currentDataFiles(store, catalog, identifier);
  const directPath = join(work, 'direct.parquet');
  const directRuns: number[] = [];
  for (let run = 0; run < 2; run++) {
    const directStarted = performance.now();
    await duck.connection.run(
      `COPY (${liveRowsSql(files, { select: 'd.* EXCLUDE (filename, file_row_number)' })!} ORDER BY id) ` +
        `TO '${directPath}' (FORMAT parquet, COMPRESSION zstd)`,
    );
    directRuns.push(performance.now() - directStarted);
  }
  const directMs = Math.min(...directRuns);

  const { manifest } = openLake({
    storage: { type: 'filesystem', path: join(table.dir, 'warehouse') },
    catalog: { type: 'local' },
  });
  const ctx = { store, catalog, duckdb: duck.instance, manifest, log: table.ctx.log };
  const compactStarted = performance.now();
  const rewrite = (await rewritePart(ctx, identifier, 'state', { targetFileSizeBytes: 536_870_912 }))!;
  const rewriteMs = performance.now() - compactStarted;
  // The swap alone, then what `commitMaintenance` does after it (the same call with nothing to swap): expiry and
  // cleanup, timed apart because their cost is the snapshots' to expire, not the rows'.
  await commitRewrite(ctx, rewrite);
  const swappedMs = performance.now() - compactStarted;
  const result = await commitMaintenance(ctx, {
    requestId: 'bench',
    table: identifier,
    rewrites: [],
    retainSnapshots: 100,
    orphanGraceMs: 0,
  });
  const compactMs = performance.now() - compactStarted;
  const after = await footprint(store, location);
  // The same rows as a fresh snapshot: one file, no deletes, one snapshot.
  const fresh = `bench.fresh_${rows}`;
  const freshLocation = `bench/fresh_${rows}`;
  const schema = currentSchema((await loadTableMetadata(store, catalog, identifier)).metadata);
  await createTable(store, catalog, { identifier: fresh, location: freshLocation, schema });
  // Written as the lake's writers write (field ids in the Parquet schema): the reader maps columns by field id, so a
  // file without them would read as all NULL, and fast.
  const freshFile = await copyToLake(
    duck.connection,
    store,
    `${freshLocation}/data/fresh.parquet`,
    `SELECT * FROM read_parquet('${directPath}')`,
    fieldIdsOf(schema),
  );
  await appendFiles(store, catalog, fresh, {
    dataFiles: [
      { path: freshFile.path, recordCount: freshFile.recordCount, fileSizeInBytes: freshFile.fileSizeInBytes },
    ],
  });
  const [readAfter, readFresh] = (await readP50(duck, table, identifier, fresh)) as [ReadTimes, ReadTimes];
  sameAnswer('after compaction', readBefore, readAfter, readFresh);
  const layout = async (file: string): Promise<string> => {
    const stats = await duck.connection.runAndReadAll(
      `SELECT count(DISTINCT row_group_id), max(row_group_num_rows) FROM parquet_metadata('${file}')`,
    );
    const [groups, largest] = stats.getRows()[0]!;
    return `${String(groups)} row groups of at most ${String(largest)} rows`;
  };
  const compactedPath = store.readPath(store.keyOf(rewrite.files[0]!.path)!);
  // One more epoch: its snapshot no longer carries the rewrite's manifest of DELETED entries, and adds a data and a
  // delete file.
  await commitEpoch(table.ctx, table.nextBatch(), table.codec);
  await settleLocatorUpdates();
  const [readNext, readFreshAgain] = (await readP50(duck, table, identifier, fresh)) as [ReadTimes, ReadTimes];

  say('');
  say(`before: ${describe(before)}`);
  say(`after:  ${describe(after)}`);
  say(
    `  rewrite ${seconds(rewriteMs)} (${rewrite.rows.toLocaleString('en-US')} rows into ${rewrite.files.length} file(s)), ` +
      `commit ${seconds(swappedMs - rewriteMs)}, expiry and cleanup ${seconds(compactMs - swappedMs)}; ` +
      `${result.expired[identifier]?.expiredSnapshots ?? 0} snapshots expired`,
  );

  say(`  compacted file: ${await layout(compactedPath)}; fresh file: ${await layout(freshFile.localPath)}`);
  say(`read p50: before ${parts(readBefore)}, after ${parts(readAfter)}, fresh snapshot ${parts(readFresh)}`);
  say(
    `  after / fresh: ${(readAfter.total / readFresh.total).toFixed(2)} (target ≤ 1.2); ` +
      `before / after: ${(readBefore.total / readAfter.total).toFixed(1)}`,
  );
  say(
    `  after one more epoch: ${parts(readNext)} against ${parts(readFreshAgain)} fresh: ` +
      `${(readNext.total / readFreshAgain.total).toFixed(2)}`,
  );
  say(
    `compaction (rewrite and commit) ${seconds(swappedMs)} against DuckDB writing the same rows directly ` +
      `${seconds(directMs)}: ratio ${(directMs / swappedMs).toFixed(2)} (target ≥ 0.5)`,
  );
  say(`  with expiry and cleanup, the whole maintenance ${seconds(compactMs)}: ${(directMs / compactMs).toFixed(2)}`);
  say(`peak RSS ${mib(process.resourceUsage().maxRSS * 1024)}`);
} finally {
  duck.close();
  rmSync(work, { recursive: true, force: true });
}
