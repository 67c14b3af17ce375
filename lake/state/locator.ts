import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import Database from 'better-sqlite3';
import type { SnapshotFiles } from '../reader.js';
import { liveRowsSql } from '../scan.js';
import type { KeyKind } from './keys.js';

/**
 * A table's identity → (data file, row position) index, so that an epoch finds the lake rows it replaces without
 * reading the table. It is a SQLite B-tree on local disk: a lookup or an update costs O(log n) whatever the table
 * size (a columnar store would scan every key on each epoch). It is a cache of the lake, never the truth: it
 * carries the id of the state snapshot it reflects, and when that is not the table's current snapshot (a crash
 * between the lake commit and the locator commit, another host, a compaction) it is rebuilt from the lake.
 *
 * Integer keys (a one-column integer primary key: one row per key) are filed as runs, `count` consecutive keys at
 * consecutive positions of one file in one entry: a bulk load of serial keys, or an update of a range of them, is a
 * handful of entries rather than a million, and so is its lookup. Other keys are filed one row each.
 */
export type LocatorKey = bigint | string;

export interface LocatorTag {
  readonly tableUuid: string;
  readonly snapshotId: string;
  readonly keySignature: string;
}

export interface LakeRow {
  readonly fileId: number;
  readonly pos: number;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS files (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE);
  CREATE TABLE IF NOT EXISTS rows (
    key BLOB NOT NULL, file INTEGER NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY (key, file, pos)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS runs (
    first INTEGER PRIMARY KEY, file INTEGER NOT NULL, pos INTEGER NOT NULL, count INTEGER NOT NULL
  );`;

/** Stored in meta with the tag: a locator written in another layout never matches, and is rebuilt. */
const FORMAT = '2';

/** Keys first .. first + count - 1 at positions pos .. pos + count - 1 of one file. */
interface Run {
  readonly first: bigint;
  readonly file: number;
  readonly pos: number;
  readonly count: number;
}

const runHolds = (run: Run, key: bigint): boolean => key >= run.first && key - run.first < BigInt(run.count);

/** The lake row of a key its run holds. */
const rowIn = (run: Run, key: bigint): LakeRow => ({ fileId: run.file, pos: run.pos + Number(key - run.first) });

/**
 * Locator entries: keys[i] at positions[i] of a file; with `counts`, each entry is a run of counts[i] integer keys
 * from keys[i] at consecutive positions.
 */
export interface LocatorRows {
  readonly keys: readonly LocatorKey[];
  readonly positions: readonly number[];
  readonly counts?: readonly number[];
}

/**
 * The runs over a query's rows (`key`, `file_id`, `pos`): a new run starts wherever the file, the position or the
 * key does not follow on from the row before, in file then position order. HUGEINT: no key overflows the step.
 */
export function runsSql(rows: string): string {
  const previous = (column: string): string => `lag(${column}) OVER (ORDER BY file_id, pos)`;
  const follows =
    `${previous('file_id')} = file_id AND ${previous('pos')} = pos - 1 ` +
    `AND CAST(key AS HUGEINT) - ${previous('key')} = 1`;
  return (
    'SELECT min(key) AS key, any_value(file_id) AS file_id, min(pos) AS pos, count(*) AS count FROM ' +
    '(SELECT key, file_id, pos, sum(starts) OVER (ORDER BY file_id, pos ROWS UNBOUNDED PRECEDING) AS run FROM ' +
    `(SELECT key, file_id, pos, CASE WHEN ${follows} THEN 0 ELSE 1 END AS starts FROM (${rows}))) ` +
    'GROUP BY run ORDER BY key'
  );
}

type Statement = Database.Statement<unknown[]>;

/** Rows (or keys) per statement of the bulk statements: rebuilds, epoch adds and lookups. */
const BULK = 256;

export class Locator {
  private readonly statements: {
    find: Statement;
    add: Statement;
    remove: Statement;
    fileId: Statement;
    addFile: Statement;
    filePath: Statement;
    setMeta: Statement;
    addMany: Statement;
    findMany: Statement;
    runAt: Statement;
    runsAt: Statement;
    addRun: Statement;
    addRuns: Statement;
    removeRun: Statement;
    shortenRun: Statement;
  };
  /** File ids never change their path: the position-delete file names one per deleted row. */
  private readonly paths = new Map<number, string>();

  private constructor(private readonly db: Database.Database) {
    this.statements = {
      find: db.prepare('SELECT file, pos FROM rows WHERE key = ? ORDER BY file, pos'),
      add: db.prepare('INSERT OR IGNORE INTO rows (key, file, pos) VALUES (?, ?, ?)'),
      remove: db.prepare('DELETE FROM rows WHERE key = ? AND file = ? AND pos = ?'),
      fileId: db.prepare('SELECT id FROM files WHERE path = ?'),
      addFile: db.prepare('INSERT INTO files (path) VALUES (?)'),
      filePath: db.prepare('SELECT path FROM files WHERE id = ?'),
      setMeta: db.prepare('INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)'),
      // The *Many statements take BULK rows or keys at once: the per-call cost of crossing into SQLite dominates a
      // row's own insert or lookup. Integer keys come back as bigint, as they were bound, so a caller's Map finds them.
      // Rows as arrays: an object per row was a third of a lookup's cost.
      findMany: db
        .prepare(`SELECT key, file, pos FROM rows WHERE key IN (${'?, '.repeat(BULK - 1)}?) ORDER BY key, file, pos`)
        .safeIntegers(true)
        .raw(true),
      addMany: db.prepare(
        `INSERT OR IGNORE INTO rows (key, file, pos) VALUES ${'(?, ?, ?), '.repeat(BULK - 1)}(?, ?, ?)`,
      ),
      // The run a key falls in, if any, starts at or before it: the nearest such run is the only candidate.
      runAt: db
        .prepare('SELECT first, file, pos, count FROM runs WHERE first <= ? ORDER BY first DESC LIMIT 1')
        .safeIntegers(true)
        .raw(true),
      runsAt: db
        .prepare(
          `WITH k(key) AS (VALUES ${'(?), '.repeat(BULK - 1)}(?)) SELECT k.key, r.first, r.file, r.pos, r.count ` +
            'FROM k JOIN runs AS r ON r.first = ' +
            '(SELECT first FROM runs WHERE first <= k.key ORDER BY first DESC LIMIT 1) ORDER BY k.key',
        )
        .safeIntegers(true)
        .raw(true),
      // Plain INSERT: a run starting where another does would mean two rows for a key; failing the update makes the
      // next epoch rebuild the locator from the lake.
      addRun: db.prepare('INSERT INTO runs (first, file, pos, count) VALUES (?, ?, ?, ?)'),
      addRuns: db.prepare(
        `INSERT INTO runs (first, file, pos, count) VALUES ${'(?, ?, ?, ?), '.repeat(BULK - 1)}(?, ?, ?, ?)`,
      ),
      removeRun: db.prepare('DELETE FROM runs WHERE first = ?'),
      shortenRun: db.prepare('UPDATE runs SET count = ? WHERE first = ?'),
    };
  }

  /** Opens (creating if absent) the locator at `path`; a file that is not a sound database is replaced by an empty one. */
  static open(path: string): Locator {
    mkdirSync(dirname(path), { recursive: true });
    try {
      return Locator.connect(path);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code !== 'SQLITE_NOTADB' && code !== 'SQLITE_CORRUPT') throw error;
      removeDatabase(path);
      return Locator.connect(path);
    }
  }

  private static connect(path: string): Locator {
    const db = new Database(path);
    try {
      // A lost locator commit only costs a rebuild (the tag tells), so the last commits need not survive a power cut.
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      // An epoch looks rows up, then deletes and re-adds them: the pages it read should still be in memory.
      db.pragma('cache_size = -65536');
      db.exec(SCHEMA);
      return new Locator(db);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  tag(): LocatorTag | undefined {
    const rows = this.db.prepare('SELECT name, value FROM meta').all() as { name: string; value: string }[];
    const meta = new Map(rows.map((r) => [r.name, r.value]));
    if (meta.get('format') !== FORMAT) return undefined;
    const [tableUuid, snapshotId, keySignature] = ['table_uuid', 'snapshot_id', 'key_signature'].map((k) =>
      meta.get(k),
    );
    if (tableUuid === undefined || snapshotId === undefined || keySignature === undefined) return undefined;
    return { tableUuid, snapshotId, keySignature };
  }

  matches(tag: LocatorTag): boolean {
    const own = this.tag();
    return (
      own !== undefined &&
      own.tableUuid === tag.tableUuid &&
      own.snapshotId === tag.snapshotId &&
      own.keySignature === tag.keySignature
    );
  }

  /** The lake rows of an identity, by file then position. */
  find(key: LocatorKey): LakeRow[] {
    if (typeof key === 'bigint') {
      const run = this.runAt(key);
      return run && runHolds(run, key) ? [rowIn(run, key)] : [];
    }
    return (this.statements.find.all(key) as { file: number; pos: number }[]).map((r) => ({
      fileId: r.file,
      pos: r.pos,
    }));
  }

  /**
   * The lake rows of many identities (by file then position each), looked up many per statement. Keys in key
   * order make it several times faster: each statement then reads the pages next to the last one's.
   */
  findAll(keys: readonly LocatorKey[]): Map<LocatorKey, LakeRow[]> {
    const found = new Map<LocatorKey, LakeRow[]>();
    if (typeof keys[0] === 'bigint') {
      for (const [key, run] of this.runsHolding(keys as readonly bigint[])) found.set(key, [rowIn(run, key)]);
      return found;
    }
    let i = 0;
    for (; i + BULK <= keys.length; i += BULK) {
      const rows = this.statements.findMany.all(...keys.slice(i, i + BULK)) as [LocatorKey, bigint, bigint][];
      for (const [key, file, pos] of rows) {
        const list = found.get(key);
        const row = { fileId: Number(file), pos: Number(pos) };
        if (list) list.push(row);
        else found.set(key, [row]);
      }
    }
    for (; i < keys.length; i++) {
      const rows = this.find(keys[i]!);
      if (rows.length > 0) found.set(keys[i]!, rows);
    }
    return found;
  }

  filePath(fileId: number): string {
    const known = this.paths.get(fileId);
    if (known !== undefined) return known;
    const row = this.statements.filePath.get(fileId) as { path: string } | undefined;
    if (!row) throw new RangeError(`locator has no file ${fileId}`);
    this.paths.set(fileId, row.path);
    return row.path;
  }

  /** The id of a data file (its location as the manifest names it), registered on first use. */
  fileId(path: string): number {
    const row = this.statements.fileId.get(path) as { id: number } | undefined;
    return row ? row.id : Number(this.statements.addFile.run(path).lastInsertRowid);
  }

  /** Starts the transaction that the changes below belong to; nothing is visible until commit(). */
  begin(): void {
    this.db.exec('BEGIN IMMEDIATE');
  }

  clear(): void {
    this.paths.clear();
    this.db.exec('DELETE FROM rows; DELETE FROM runs; DELETE FROM files;');
  }

  remove(key: LocatorKey, row: LakeRow): void {
    this.removeAll([{ key, row }]);
  }

  /** Removes each entry (a key filed at that row); an entry the locator does not hold is no change. */
  removeAll(entries: readonly { readonly key: LocatorKey; readonly row: LakeRow }[]): void {
    if (typeof entries[0]?.key !== 'bigint') {
      for (const { key, row } of entries) this.statements.remove.run(key, row.fileId, row.pos);
      return;
    }
    // Each run is looked up before any is changed, then rewritten once with all its removals: what is left of it
    // stays filed under its first key (shortened) or as new runs.
    const holding = this.runsHolding(entries.map((e) => e.key as bigint));
    // By first key: lookups in different statements give a run as different objects.
    const removals = new Map<bigint, { run: Run; offsets: Set<number> }>();
    for (const { key, row } of entries as readonly { key: bigint; row: LakeRow }[]) {
      const run = holding.get(key);
      if (!run) continue;
      const offset = Number(key - run.first);
      if (run.file !== row.fileId || run.pos + offset !== row.pos) continue;
      const removal = removals.get(run.first);
      if (removal) removal.offsets.add(offset);
      else removals.set(run.first, { run, offsets: new Set([offset]) });
    }
    const pieces: unknown[] = [];
    for (const { run, offsets } of removals.values()) {
      const sorted = [...offsets].sort((a, b) => a - b);
      if (sorted[0]! > 0) this.statements.shortenRun.run(sorted[0], run.first);
      else this.statements.removeRun.run(run.first);
      for (let i = 0; i < sorted.length; i++) {
        const start = sorted[i]! + 1;
        const end = sorted[i + 1] ?? run.count;
        if (end > start) pieces.push(run.first + BigInt(start), run.file, run.pos + start, end - start);
      }
    }
    this.insertRuns(pieces);
  }

  /** Inserts runs given as flat (first, file, pos, count) quadruples, BULK per statement. */
  private insertRuns(values: readonly unknown[]): void {
    let i = 0;
    for (; i + BULK * 4 <= values.length; i += BULK * 4) this.statements.addRuns.run(...values.slice(i, i + BULK * 4));
    for (; i < values.length; i += 4) this.statements.addRun.run(...values.slice(i, i + 4));
  }

  add(key: LocatorKey, fileId: number, pos: number): void {
    if (typeof key === 'bigint') this.statements.addRun.run(key, fileId, pos, 1);
    else this.statements.add.run(key, fileId, pos);
  }

  /**
   * The rows of one data file (keys[i] at positions[i], or runs of counts[i] keys, i in [from, to)), many per
   * statement. Integer keys that follow on from each other are filed as one run.
   */
  addAll(fileId: number, rows: LocatorRows, from = 0, to = rows.keys.length): void {
    if (typeof rows.keys[from] === 'bigint') {
      this.addRunsOf(fileId, rows, from, to);
      return;
    }
    const { keys, positions } = rows;
    let i = from;
    const values: unknown[] = new Array<unknown>(BULK * 3);
    for (; i + BULK <= to; i += BULK) {
      for (let j = 0; j < BULK; j++) {
        values[j * 3] = keys[i + j];
        values[j * 3 + 1] = fileId;
        values[j * 3 + 2] = positions[i + j];
      }
      this.statements.addMany.run(...values);
    }
    for (; i < to; i++) this.add(keys[i]!, fileId, positions[i]!);
  }

  /**
   * The run holding each key, BULK keys per statement; in key order, the keys that the last run found holds need no
   * statement at all (a range of serial keys takes one between them).
   */
  private runsHolding(keys: readonly bigint[]): Map<bigint, Run> {
    const holding = new Map<bigint, Run>();
    let run: Run | undefined;
    const pending: bigint[] = [];
    const lookUp = (): void => {
      const last = pending.at(-1)!;
      while (pending.length < BULK) pending.push(last);
      for (const row of this.statements.runsAt.all(...pending) as bigint[][]) {
        const [key, first, file, pos, count] = row as [bigint, bigint, bigint, bigint, bigint];
        if (run?.first !== first) run = { first, file: Number(file), pos: Number(pos), count: Number(count) };
        if (runHolds(run, key)) holding.set(key, run);
      }
      pending.length = 0;
    };
    for (const key of keys) {
      if (run && runHolds(run, key)) holding.set(key, run);
      else if (pending.push(key) === BULK) lookUp();
    }
    if (pending.length > 0) lookUp();
    return holding;
  }

  private runAt(key: bigint): Run | undefined {
    const row = this.statements.runAt.get(key) as [bigint, bigint, bigint, bigint] | undefined;
    return row && { first: row[0], file: Number(row[1]), pos: Number(row[2]), count: Number(row[3]) };
  }

  private addRunsOf(fileId: number, rows: LocatorRows, from: number, to: number): void {
    const keys = rows.keys as readonly bigint[];
    const { positions, counts } = rows;
    const values: unknown[] = [];
    for (let i = from; i < to;) {
      const first = keys[i]!;
      const pos = positions[i]!;
      let count = counts?.[i] ?? 1;
      for (i++; i < to && keys[i] === first + BigInt(count) && positions[i] === pos + count; i++) {
        count += counts?.[i] ?? 1;
      }
      values.push(first, fileId, pos, count);
    }
    this.insertRuns(values);
  }

  setTag(tag: LocatorTag): void {
    this.statements.setMeta.run('format', FORMAT);
    this.statements.setMeta.run('table_uuid', tag.tableUuid);
    this.statements.setMeta.run('snapshot_id', tag.snapshotId);
    this.statements.setMeta.run('key_signature', tag.keySignature);
  }

  commit(): void {
    this.db.exec('COMMIT');
  }

  rollback(): void {
    this.paths.clear();
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
  }

  close(): void {
    this.rollback();
    this.db.close();
  }

  /**
   * Replaces the locator at `path` with one built from the live rows of `files`: written to a new file and
   * renamed into place, so a rebuild that dies half-way leaves the old (stale, and so rebuilt again) locator.
   */
  static async rebuild(
    path: string,
    connection: DuckDBConnection,
    files: SnapshotFiles,
    keyOverRow: string,
    tag: LocatorTag,
    keyKind: KeyKind,
  ): Promise<number> {
    mkdirSync(dirname(path), { recursive: true });
    const temp = `${path}.rebuild-${randomBytes(6).toString('hex')}`;
    const db = new Database(temp);
    let rows = 0;
    try {
      // Nothing reads the new file before the rename: no journal, no syncs, a large page cache.
      db.pragma('journal_mode = OFF');
      db.pragma('synchronous = OFF');
      db.pragma('cache_size = -262144');
      db.exec(SCHEMA);
      const locator = new Locator(db);
      db.exec('BEGIN');
      const ids = files.dataFiles.map((file) => ({ id: locator.fileId(file.path), local: file.localPath }));
      const live = liveRowsSql(files, {
        select: `${keyOverRow} AS key, d.filename AS filename, d.file_row_number AS pos`,
      });
      if (live !== undefined) {
        const map = ids.map(({ id, local }) => `('${(local ?? '').replace(/'/g, "''")}', ${id})`).join(', ');
        const rowsSql =
          `SELECT l.key, m.file_id, l.pos FROM (${live}) AS l ` +
          `JOIN (VALUES ${map}) AS m(local_path, file_id) ON m.local_path = l.filename`;
        // Keys in order turn the B-tree inserts into appends.
        const result = await connection.stream(
          keyKind === 'integer' ? runsSql(rowsSql) : `SELECT key, file_id, pos FROM (${rowsSql}) ORDER BY key`,
        );
        const { addMany, add } = locator.statements;
        for (;;) {
          const chunk = await result.fetchChunk();
          if (!chunk || chunk.rowCount === 0) break;
          const [keys, fileIds, positions, counts] = [0, 1, 2, 3]
            .slice(0, chunk.columnCount)
            .map((i) => chunk.getColumnValues(i));
          if (counts) {
            const values: unknown[] = [];
            for (let i = 0; i < chunk.rowCount; i++) {
              const count = Number(counts[i]);
              values.push(keys![i], Number(fileIds![i]), Number(positions![i]), count);
              rows += count;
            }
            locator.insertRuns(values);
            continue;
          }
          let i = 0;
          for (; i + BULK <= chunk.rowCount; i += BULK) {
            const values: unknown[] = [];
            for (let j = i; j < i + BULK; j++) values.push(keys![j], fileIds![j], positions![j]);
            addMany.run(...values);
          }
          for (; i < chunk.rowCount; i++) add.run(keys![i], fileIds![i], positions![i]);
          rows += chunk.rowCount;
        }
      }
      locator.setTag(tag);
      db.exec('COMMIT');
      db.close();
    } catch (error) {
      if (db.open) db.close();
      removeDatabase(temp);
      throw error;
    }
    // A stale write-ahead log beside the old file would be replayed into the new one: remove it first.
    removeDatabase(path);
    renameSync(temp, path);
    return rows;
  }
}

function removeDatabase(path: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${path}${suffix}`, { force: true });
}
