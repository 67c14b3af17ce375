import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { setImmediate } from 'node:timers/promises';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { Logger } from '../../core/log/index.js';
import type { Catalog } from '../catalog/index.js';
import type { Snapshot } from '../iceberg/metadata.js';
import type { RawTagRetention } from '../iceberg/raw-tags.js';
import { appendFiles, type AppendResult, type LoadedTable } from '../iceberg/table.js';
import { currentDataFiles } from '../reader.js';
import { UnreadableFileError } from '../scan.js';
import type { ObjectStore } from '../storage/index.js';
import { quoteIdentifier, tempTable, type LakeParquet } from './duck.js';
import type { IdentityKey, KeyKind } from './keys.js';
import { Locator, type LakeRow, type LocatorKey, type LocatorTag } from './locator.js';
import { locatorUpdated, startLocatorUpdate } from './locator-updates.js';
import { epochSnapshotId } from './naming.js';
import { SUMMARY_KEY } from '../contract/index.js';
import { resolveFullRow, resolvePrimaryKey, type ChangeOp, type Resolution, type ThinChange } from './resolve.js';
import {
  readWrittenRows,
  startDataFile,
  writeDeleteFile,
  type FileNames,
  type LakeRows,
  type WrittenRows,
} from './state-files.js';
import type { PhaseTimer } from './timing.js';
import type { ChangeCodec } from './types.js';

/**
 * The state table's half of an epoch: resolve the changes, find the lake rows they replace through the locator,
 * write one data file and one position-delete file, commit them as one snapshot, then move the locator to it.
 * The locator's changes are made in a transaction that starts only after the lake commit succeeded, so a failed
 * lake commit leaves a locator that still matches the table.
 */
export interface StateContext {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  readonly connection: DuckDBConnection;
  readonly locatorDir: string;
  readonly log: Logger;
  readonly phase: PhaseTimer;
  /** Called once the epoch is resolved, when the main thread turns to the locator: work started then runs beside it. */
  readonly beside?: () => void;
  /** Settles once the state may be committed (the changelog's snapshot is in); rejects when it must not be. */
  readonly beforeLakeCommit?: () => Promise<unknown>;
  /** The `raw@<time>` tag each epoch's snapshot gets, and how long tags stay (promotion.raw_tags). */
  readonly rawTags?: RawTagRetention;
}

export interface StateCommit {
  readonly result: AppendResult;
  readonly rowsInserted: number;
  readonly rowsDeleted: number;
  readonly truncated: boolean;
  /** Where the epoch was resolved: in DuckDB alone, or by resolve.ts over its changes read into memory. */
  readonly resolver: 'duckdb' | 'memory';
  /**
   * Starts moving the locator to the new snapshot in the background; the caller calls it exactly once, when the
   * epoch is done with the event loop (the table's next epoch waits for the move, see locator-updates.ts).
   */
  readonly startLocatorMove: (duckdb: DuckDBInstance) => void;
}

/** One locator file per table location and identifier: two warehouses sharing a locatorDir never meet. */
export function locatorPath(locatorDir: string, table: LoadedTable): string {
  const hash = createHash('sha256').update(`${table.identifier}\u0000${table.metadata.location}`).digest('hex');
  const readable = table.identifier.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 80);
  return join(locatorDir, `${readable}-${hash.slice(0, 12)}.locator.sqlite`);
}

/**
 * Temp table `direct`: the changes that need no resolution, INSERTs of an identity the batch names nowhere else in a
 * batch without a truncate. Their rows are written as they are and nothing in the lake is looked up for them (see
 * resolve.ts: a first INSERT means the identity is not in the lake). In a bulk-load epoch that is nearly every change,
 * so only the rest are read into memory and resolved. Returns how many changes are not direct.
 */
async function markDirectInserts(connection: DuckDBConnection): Promise<number> {
  await connection.run(
    "CREATE OR REPLACE TEMP TABLE direct AS SELECT e.ord FROM ev AS e WHERE e.op = 'I' " +
      "AND NOT EXISTS (SELECT 1 FROM ev WHERE op = 'T') AND e.to_key IN (SELECT key FROM " +
      '(SELECT from_key AS key FROM ev UNION ALL SELECT to_key FROM ev) WHERE key IS NOT NULL ' +
      'GROUP BY key HAVING count(*) = 1)',
  );
  const reader = await connection.runAndReadAll('SELECT (SELECT count(*) FROM ev) - (SELECT count(*) FROM direct)');
  return Number(reader.getRowsJS()[0]![0]);
}

/**
 * The changes that are not direct inserts, in order, with their identities numbered: temp table `ids` (`iid`, `key`)
 * holds every identity these changes name.
 */
async function thinChanges(connection: DuckDBConnection): Promise<ThinChange[]> {
  await connection.run(
    'CREATE OR REPLACE TEMP TABLE ids AS SELECT CAST(row_number() OVER () - 1 AS INTEGER) AS iid, key FROM ' +
      '(SELECT DISTINCT key FROM (SELECT e.from_key AS key FROM ev AS e ANTI JOIN direct AS d ON d.ord = e.ord ' +
      'UNION ALL SELECT e.to_key FROM ev AS e ANTI JOIN direct AS d ON d.ord = e.ord) WHERE key IS NOT NULL)',
  );
  // Read as columns, `ord` as a double (exact: see events.ts) and `unchanged` as text only where there is one: an
  // epoch of many updates brings hundreds of thousands of these rows, and a JS row array each, a BigInt and an
  // empty list per row cost twice what this does.
  const reader = await connection.runAndReadAll(
    'SELECT CAST(e.ord AS DOUBLE), e.op, f.iid, t.iid, ' +
      "CASE WHEN len(e.unchanged) > 0 THEN array_to_string(e.unchanged, ' ') END " +
      'FROM ev AS e ANTI JOIN direct AS d ON d.ord = e.ord ' +
      'LEFT JOIN ids AS f ON f.key = e.from_key LEFT JOIN ids AS t ON t.key = e.to_key ORDER BY e.ord',
  );
  const [ords = [], ops = [], froms = [], tos = [], unchanged = []] = reader.getColumnsJS();
  const thin = new Array<ThinChange>(ords.length);
  for (let i = 0; i < ords.length; i++) {
    const fields = unchanged[i] as string | null;
    thin[i] = {
      ord: ords[i] as number,
      op: ops[i] as ChangeOp,
      from: (froms[i] as number | null) ?? undefined,
      to: (tos[i] as number | null) ?? undefined,
      unchanged: fields === null ? [] : fields.split(' ').map(Number),
    };
  }
  return thin;
}

/** An epoch resolved in DuckDB: what resolve.ts would say, with the identities looked up numbered in key order. */
interface ResolvedInDuckDB {
  readonly resolution: Resolution;
  readonly keys: Map<number, LocatorKey>;
}

/**
 * Resolves a primary-key epoch in DuckDB alone when the general resolver is not needed: no truncate, and no
 * unchanged TOAST value among the changes that are not direct inserts. The rules are resolve.ts's: an identity's
 * row is the one its last change leaves (none after a delete, or an update that moved the row to another key), and
 * it has a row in the lake unless its first change is an INSERT. An epoch of updates then never reads its changes
 * into memory. Fills temp table `written_resolved`; undefined (nothing done) when the epoch needs the resolver.
 */
async function resolveInDuckDB(connection: DuckDBConnection): Promise<ResolvedInDuckDB | undefined> {
  const rest = 'SELECT e.* FROM ev AS e ANTI JOIN direct AS d ON d.ord = e.ord';
  const check = await connection.runAndReadAll(
    `SELECT count(*) FILTER (op = 'T') + count(*) FILTER (len(unchanged) > 0) FROM (${rest})`,
  );
  if (Number(check.getRowsJS()[0]![0]) > 0) return undefined;
  // Per identity, the changes that set what it holds: its writes (I, U) and its removals (D; U to another key).
  const setters =
    `SELECT to_key AS key, ord, true AS writes FROM (${rest}) WHERE to_key IS NOT NULL UNION ALL ` +
    `SELECT from_key, ord, false FROM (${rest}) WHERE from_key IS NOT NULL ` +
    "AND (op = 'D' OR (op = 'U' AND to_key IS DISTINCT FROM from_key))";
  await connection.run(
    'CREATE OR REPLACE TEMP TABLE written_resolved AS SELECT ord FROM ' +
      `(SELECT max(ord) AS ord, arg_max(writes, ord) AS writes FROM (${setters}) GROUP BY key) WHERE writes`,
  );
  const touches =
    `SELECT from_key AS key, ord, op FROM (${rest}) WHERE from_key IS NOT NULL UNION ALL ` +
    `SELECT to_key, ord, op FROM (${rest}) WHERE to_key IS NOT NULL`;
  const reader = await connection.runAndReadAll(
    `SELECT key FROM (SELECT key, arg_min(op, ord) AS first FROM (${touches}) GROUP BY key) ` +
      "WHERE first <> 'I' ORDER BY key",
  );
  const [looked = []] = reader.getColumnsJS();
  const keys = new Map<number, LocatorKey>();
  const lakeDeletes = new Map<number, 'all'>();
  looked.forEach((key, iid) => {
    keys.set(iid, key as LocatorKey);
    lakeDeletes.set(iid, 'all');
  });
  // `written` stays empty: the written rows are in `written_resolved`, where the data file reads them.
  return { resolution: { written: [], lakeDeletes, toast: [], truncated: false }, keys };
}

/**
 * The locator keys of the identities the epoch looks up in the lake (often none: an insert-only epoch), in key
 * order.
 */
async function identityKeys(connection: DuckDBConnection, iids: Iterable<number>): Promise<Map<number, LocatorKey>> {
  const wanted = [...iids];
  if (wanted.length === 0) return new Map();
  await tempTable(
    connection,
    'wanted_ids',
    { iid: 'INTEGER' },
    wanted.map((iid) => [iid]),
  );
  // In key order: the locator's B-tree is then read front to back, page after page, not at random.
  const reader = await connection.runAndReadAll(
    'SELECT i.iid, i.key FROM ids AS i JOIN wanted_ids AS w USING (iid) ORDER BY i.key',
  );
  const [iidColumn = [], keyColumn = []] = reader.getColumnsJS();
  const keys = new Map<number, LocatorKey>();
  for (let i = 0; i < iidColumn.length; i++) keys.set(iidColumn[i] as number, keyColumn[i] as LocatorKey);
  return keys;
}

/** The locator key expression over a state row read as alias `d` (data files, live rows). */
export function keyOverRow(codec: ChangeCodec, key: IdentityKey): string {
  const names = new Map(codec.columns.map((c) => [c.fieldId, c.name]));
  return key.sql((id) => `d.${quoteIdentifier(names.get(id)!)}`);
}

export function locatorTag(table: LoadedTable, key: IdentityKey, snapshotId: bigint): LocatorTag {
  return { tableUuid: table.metadata['table-uuid'], snapshotId: String(snapshotId), keySignature: key.signature };
}

/**
 * Opens the table's locator, rebuilt from the lake unless it reflects `tag` (skipped when the epoch truncates).
 * First waits for the locator's updates still running, unless called as one of them (`waiting: false`).
 */
export async function openLocator(
  ctx: Pick<StateContext, 'store' | 'catalog' | 'connection' | 'locatorDir' | 'log'>,
  table: LoadedTable,
  key: IdentityKey,
  keyOverRow: string,
  tag: LocatorTag,
  truncated: boolean,
  options: { waiting: boolean } = { waiting: true },
): Promise<Locator> {
  const path = locatorPath(ctx.locatorDir, table);
  if (options.waiting) await locatorUpdated(path);
  const locator = Locator.open(path);
  if (truncated || locator.matches(tag)) return locator;
  locator.close();
  const started = Date.now();
  const files = await currentDataFiles(ctx.store, ctx.catalog, table.identifier, {
    snapshotId: BigInt(tag.snapshotId),
  });
  const rows = await Locator.rebuild(path, ctx.connection, files, keyOverRow, tag, key.kind);
  ctx.log.info(
    { table: table.identifier, rows, ms: Date.now() - started, kind: key.kind },
    'locator rebuilt from the lake',
  );
  return Locator.open(path);
}

/** The lake rows the epoch deletes, and the rows TOAST values come from, found through the locator. */
function findLakeRows(locator: Locator, keys: ReadonlyMap<number, LocatorKey>, resolution: Resolution): LakeRows {
  const deleted: { key: LocatorKey; row: LakeRow }[] = [];
  const sources = new Map<number, LakeRow>();
  const found = locator.findAll([...keys.values()]);
  for (const [iid, count] of resolution.lakeDeletes) {
    const key = keys.get(iid)!;
    const rows = found.get(key) ?? [];
    if (rows[0]) sources.set(iid, rows[0]);
    for (const row of count === 'all' ? rows : rows.slice(0, count)) deleted.push({ key, row });
  }
  return { deleted, sources };
}

function fileNames(store: ObjectStore, locator: Locator, table: string): FileNames {
  return {
    location: (fileId) => locator.filePath(fileId),
    localPath: (fileId) => {
      const path = locator.filePath(fileId);
      const key = store.keyOf(path);
      const local = key === undefined ? undefined : store.readPath(key);
      if (local === undefined) {
        throw new UnreadableFileError(table, {
          path,
          recordCount: 0,
          fileSizeInBytes: 0,
          content: 0,
          localPath: undefined,
        });
      }
      return local;
    },
  };
}

export async function commitState(
  ctx: StateContext,
  table: LoadedTable,
  parent: Snapshot,
  codec: ChangeCodec,
  key: IdentityKey,
  epoch: number,
  summary: Readonly<Record<string, string>>,
): Promise<StateCommit> {
  const { connection } = ctx;
  const rest = await markDirectInserts(connection);
  const primaryKey = codec.identityKind === 'primary-key';
  const inDuckDB = rest > 0 && primaryKey ? await resolveInDuckDB(connection) : undefined;
  let resolution: Resolution;
  if (inDuckDB) resolution = inDuckDB.resolution;
  else {
    const thin = rest === 0 ? [] : await thinChanges(connection);
    resolution = primaryKey ? resolvePrimaryKey(thin) : resolveFullRow(thin);
    await tempTable(
      connection,
      'written_resolved',
      { ord: 'BIGINT' },
      resolution.written.map((ord) => [ord]),
    );
  }
  const overRow = keyOverRow(codec, key);
  ctx.phase('resolve');
  ctx.beside?.();
  const parentTag = locatorTag(table, key, parent['snapshot-id']);
  const locator = await openLocator(ctx, table, key, overRow, parentTag, resolution.truncated);
  ctx.phase('locator-open');
  let handedOver = false;
  try {
    const keys = inDuckDB?.keys ?? (await identityKeys(connection, resolution.lakeDeletes.keys()));
    const files = fileNames(ctx.store, locator, table.identifier);
    const dataInput = { codec, resolution, files };
    // The data file needs lake rows only for unchanged TOAST values: without any, DuckDB writes it while the locator
    // lookups (synchronous SQLite on this thread) run.
    const early =
      resolution.toast.length === 0
        ? await startDataFile(connection, ctx.store, table, epoch, { ...dataInput, sources: new Map() })
        : undefined;
    let lake: LakeRows;
    try {
      lake = findLakeRows(locator, keys, resolution);
    } catch (error) {
      await early?.written.catch(() => undefined);
      throw error;
    }
    ctx.phase('locator-lookup');
    const data = await (
      early ?? (await startDataFile(connection, ctx.store, table, epoch, { ...dataInput, sources: lake.sources }))
    ).written;
    const deletes = await writeDeleteFile(connection, ctx.store, table, epoch, lake.deleted, files);
    ctx.phase('state-files');

    await ctx.beforeLakeCommit?.();
    ctx.phase('changelog-wait');
    const snapshotId = epochSnapshotId(table.identifier, epoch);
    const result = await appendFiles(ctx.store, ctx.catalog, table.identifier, {
      dataFiles: [data, deletes].filter((f) => f !== undefined),
      snapshotId,
      replaceAll: resolution.truncated,
      ...(ctx.rawTags ? { rawTag: ctx.rawTags } : {}),
      summary: {
        ...summary,
        [SUMMARY_KEY.rowsInserted]: String(data?.recordCount ?? 0),
        [SUMMARY_KEY.rowsDeleted]: String(lake.deleted.length),
        ...(resolution.truncated ? { [SUMMARY_KEY.truncated]: 'true' } : {}),
      },
    });
    ctx.phase('state-commit');
    // Only after the lake commit, so the epoch is queryable without waiting for it: had that commit failed, the
    // locator would still describe the table as it is. The caller starts it once its epoch is done (see
    // locator-updates.ts); should this process stop before it commits, the locator's tag names the parent
    // snapshot, not the table's current one, and the next epoch rebuilds it from the lake.
    const move: LocatorMove = {
      truncated: resolution.truncated,
      deleted: lake.deleted,
      added: data,
      overRow,
      keyKind: key.kind,
      tag: locatorTag(table, key, snapshotId),
    };
    const path = locatorPath(ctx.locatorDir, table);
    const context = { table: table.identifier, epoch };
    handedOver = true;
    return {
      result,
      rowsInserted: data?.recordCount ?? 0,
      rowsDeleted: lake.deleted.length,
      truncated: resolution.truncated,
      resolver: inDuckDB ? 'duckdb' : 'memory',
      startLocatorMove: (duckdb) =>
        startLocatorUpdate(path, ctx.log, context, () => moveLocator(locator, move, duckdb, ctx.log)),
    };
  } finally {
    if (!handedOver) locator.close();
  }
}

interface LocatorMove {
  readonly truncated: boolean;
  readonly deleted: LakeRows['deleted'];
  /** The epoch's data file, whose rows the locator files. */
  readonly added: LakeParquet | undefined;
  readonly overRow: string;
  readonly keyKind: KeyKind;
  readonly tag: LocatorTag;
}

/** Rows per slice of a locator update: between slices the event loop serves the stream and the workers. */
const LOCATOR_SLICE = 16_384;

/**
 * Moves the locator to the epoch's snapshot in one SQLite transaction, cut into slices; closes it in any case. The
 * data file's rows are read back from the file on a connection of its own: the epoch's are closed by now.
 */
async function moveLocator(locator: Locator, move: LocatorMove, duckdb: DuckDBInstance, log: Logger): Promise<void> {
  const started = performance.now();
  try {
    let rows: WrittenRows | undefined;
    if (move.added) {
      const connection = await duckdb.connect();
      try {
        rows = await readWrittenRows(connection, move.overRow, move.added, move.keyKind);
      } finally {
        connection.closeSync();
      }
    }
    locator.begin();
    if (move.truncated) locator.clear();
    for (let from = 0; from < move.deleted.length; from += LOCATOR_SLICE) {
      locator.removeAll(move.deleted.slice(from, from + LOCATOR_SLICE));
      await setImmediate();
    }
    if (move.added && rows) {
      const fileId = locator.fileId(move.added.path);
      const count = rows.keys.length;
      for (let from = 0; from < count; from += LOCATOR_SLICE) {
        locator.addAll(fileId, rows, from, Math.min(count, from + LOCATOR_SLICE));
        await setImmediate();
      }
    }
    locator.setTag(move.tag);
    locator.commit();
  } finally {
    locator.close();
  }
  log.debug({ snapshotId: move.tag.snapshotId, ms: Math.round(performance.now() - started) }, 'locator updated');
}
