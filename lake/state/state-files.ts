import type { DuckDBConnection } from '@duckdb/node-api';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import { currentSchema } from '../iceberg/metadata.js';
import type { LoadedTable } from '../iceberg/table.js';
import type { ObjectStore } from '../storage/index.js';
import { copyToLake, tempTable, type LakeParquet } from './duck.js';
import { runsSql, type LakeRow, type LocatorKey, type LocatorRows } from './locator.js';
import type { KeyKind } from './keys.js';
import { epochFileKey } from './naming.js';
import type { Resolution } from './resolve.js';
import {
  POSITION_DELETE_FIELD_IDS,
  emptyLakeValuesSql,
  lakeValuesSql,
  stateFieldIds,
  stateRowsSql,
  writtenKeysSql,
} from './state-sql.js';
import type { ChangeCodec } from './types.js';

/**
 * The state table's files of one epoch: one data file with the rows the epoch leaves live, and one position-delete
 * file naming the lake rows it replaces. Both have deterministic names and content, so a retry rewrites the same
 * files. The data file's row positions are read back from the file itself for the locator (readWrittenRows).
 * Expects the epoch's tables: `ev` (see events.ts), and `direct` (the inserts written without resolution, see
 * state.ts).
 */
export interface LakeRows {
  /** The lake rows the epoch deletes, with the identity key they are filed under in the locator. */
  readonly deleted: readonly { readonly key: LocatorKey; readonly row: LakeRow }[];
  /** Per identity, the lake row its unchanged TOAST values come from. */
  readonly sources: ReadonlyMap<number, LakeRow>;
}

/** Locator entries of a data file's rows: the key and position of each, or runs of integer keys. */
export type WrittenRows = LocatorRows;

export interface FileNames {
  /** The location of a locator file id, as manifests name it. */
  location(fileId: number): string;
  /** Where that file is on this machine, for DuckDB. */
  localPath(fileId: number): string;
}

/** Temp tables `toast_src` and `lake_vals` that stateRowsSql joins; returns the fields with TOAST values. */
async function prepareToast(
  connection: DuckDBConnection,
  schema: IcebergSchema,
  resolution: Resolution,
  sources: ReadonlyMap<number, LakeRow>,
  files: FileNames,
): Promise<number[]> {
  const toast = resolution.toast;
  await tempTable(
    connection,
    'toast_src',
    { ord: 'BIGINT', field: 'INTEGER', src_ord: 'BIGINT', src_iid: 'INTEGER' },
    toast.map((t) =>
      'sourceOrd' in t ? [t.ord, t.field, t.sourceOrd, undefined] : [t.ord, t.field, undefined, t.lakeIdentity],
    ),
  );
  const fields = [...new Set(toast.map((t) => t.field))].sort((a, b) => a - b);
  const fromLake = new Set(
    toast.flatMap((t) => ('lakeIdentity' in t && sources.has(t.lakeIdentity) ? [t.lakeIdentity] : [])),
  );
  if (fromLake.size === 0) {
    await connection.run(`CREATE OR REPLACE TEMP TABLE lake_vals AS ${emptyLakeValuesSql(fields)}`);
    return fields;
  }
  const need = [...fromLake].map((iid) => {
    const row = sources.get(iid)!;
    return [iid, files.localPath(row.fileId), row.pos] as const;
  });
  await tempTable(connection, 'lake_need', { iid: 'INTEGER', local_path: 'VARCHAR', pos: 'BIGINT' }, need);
  const paths = [...new Set(need.map(([, path]) => path))];
  await connection.run(`CREATE OR REPLACE TEMP TABLE lake_vals AS ${lakeValuesSql(schema, fields, paths)}`);
  return fields;
}

/**
 * Prepares the epoch's data file (the rows it leaves live: the changes in temp tables `direct` and
 * `written_resolved`) and starts DuckDB writing it; `written` settles when the file is complete (undefined: the
 * epoch leaves no row). The wrapper lets the caller do other work, like the locator lookups, while DuckDB writes;
 * `sources` are needed only for unchanged TOAST values.
 */
export async function startDataFile(
  connection: DuckDBConnection,
  store: ObjectStore,
  table: LoadedTable,
  epoch: number,
  input: {
    readonly codec: ChangeCodec;
    readonly resolution: Resolution;
    readonly sources: LakeRows['sources'];
    readonly files: FileNames;
  },
): Promise<{ readonly written: Promise<LakeParquet | undefined> }> {
  const { codec, resolution } = input;
  // The written changes: the direct inserts (temp table `direct`) and what resolution kept of the rest.
  await connection.run(
    'CREATE OR REPLACE TEMP TABLE written AS SELECT ord FROM direct UNION ALL SELECT ord FROM written_resolved',
  );
  const count = Number((await connection.runAndReadAll('SELECT count(*) FROM written')).getRowsJS()[0]![0]);
  if (count === 0) return { written: Promise.resolve(undefined) };
  const schema = currentSchema(table.metadata);
  const toastFields = await prepareToast(connection, schema, resolution, input.sources, input.files);
  const key = epochFileKey(table.location, table.metadata['table-uuid'], epoch, 'state');
  return { written: copyToLake(connection, store, key, stateRowsSql(codec, toastFields), stateFieldIds(codec)) };
}

/** The position-delete file naming the lake rows the epoch replaces; undefined when it replaces none. */
export async function writeDeleteFile(
  connection: DuckDBConnection,
  store: ObjectStore,
  table: LoadedTable,
  epoch: number,
  deleted: LakeRows['deleted'],
  files: FileNames,
): Promise<LakeParquet | undefined> {
  if (deleted.length === 0) return undefined;
  const rows = deleted.map(({ row }) => [files.location(row.fileId), row.pos] as const);
  await tempTable(connection, 'pos_del', { file_path: 'VARCHAR', pos: 'BIGINT' }, rows);
  // The spec wants position deletes sorted by file and position.
  const query = 'SELECT file_path, pos FROM pos_del ORDER BY file_path, pos';
  const key = epochFileKey(table.location, table.metadata['table-uuid'], epoch, 'deletes');
  return copyToLake(connection, store, key, query, POSITION_DELETE_FIELD_IDS, 1);
}

/**
 * The data file's rows as the locator files them, read back from the file itself. Only the locator needs them, so
 * this runs after the lake commit: a bulk-load epoch writes a million rows, and reading them is not on the way to
 * the epoch being queryable.
 */
export async function readWrittenRows(
  connection: DuckDBConnection,
  keyOverRow: string,
  data: LakeParquet,
  keyKind: KeyKind,
): Promise<WrittenRows> {
  const written = writtenKeysSql(keyOverRow, data.localPath);
  if (keyKind === 'integer') {
    // Found as runs in DuckDB: a file of serial keys comes back as one row, not one per key.
    const runs = await connection.runAndReadAll(runsSql(`SELECT key, 0 AS file_id, pos FROM (${written})`));
    const [keys = [], , positions = [], counts = []] = runs.getColumnsJS();
    return { keys: keys as LocatorKey[], positions: positions.map(Number), counts: counts.map(Number) };
  }
  const positions = await connection.runAndReadAll(written);
  // Columns, not rows: a JS object per row was most of the cost.
  const [keys = [], offsets = []] = positions.getColumnsJS();
  return { keys: keys as LocatorKey[], positions: offsets.map(Number) };
}
