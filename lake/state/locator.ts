import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import Database from 'better-sqlite3';
import type { SnapshotFiles } from '../reader.js';
import { liveRowsSql } from '../scan.js';

/**
 * A table's identity → (data file, row position) index, so that an epoch finds the lake rows it replaces without
 * reading the table. It is a SQLite B-tree on local disk: a lookup or an update costs O(log n) whatever the table
 * size (a columnar store would scan every key on each epoch). It is a cache of the lake, never the truth: it
 * carries the id of the state snapshot it reflects, and when that is not the table's current snapshot (a crash
 * between the lake commit and the locator commit, another host, a compaction) it is rebuilt from the lake.
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
  ) WITHOUT ROWID;`;

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
    this.db.exec('DELETE FROM rows; DELETE FROM files;');
  }

  remove(key: LocatorKey, row: LakeRow): void {
    this.statements.remove.run(key, row.fileId, row.pos);
  }

  add(key: LocatorKey, fileId: number, pos: number): void {
    this.statements.add.run(key, fileId, pos);
  }

  /** The rows of one data file (keys[i] at positions[i], i in [from, to)), many per statement. */
  addAll(
    fileId: number,
    rows: { readonly keys: readonly LocatorKey[]; readonly positions: readonly number[] },
    from = 0,
    to = rows.keys.length,
  ): void {
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

  setTag(tag: LocatorTag): void {
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
        // Keys in order turn the B-tree inserts into appends.
        const result = await connection.stream(
          `SELECT l.key, m.file_id, l.pos FROM (${live}) AS l ` +
            `JOIN (VALUES ${map}) AS m(local_path, file_id) ON m.local_path = l.filename ORDER BY l.key`,
        );
        const { addMany, add } = locator.statements;
        for (;;) {
          const chunk = await result.fetchChunk();
          if (!chunk || chunk.rowCount === 0) break;
          const [keys, fileIds, positions] = [0, 1, 2].map((i) => chunk.getColumnValues(i));
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
