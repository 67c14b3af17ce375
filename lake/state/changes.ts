import type { DuckDBConnection } from '@duckdb/node-api';
import type { Catalog } from '../catalog/index.js';
import {
  changelogIdentifier,
  changelogLocation,
  changelogSchema,
  SUMMARY_KEY,
  TABLE_PROPERTY,
} from '../contract/index.js';
import { TableExistsError, TableNotFoundError } from '../errors.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import { appendFiles, createTable, loadTableMetadata, type LoadedTable } from '../iceberg/table.js';
import type { ObjectStore } from '../storage/index.js';
import { changelogCopy } from './changelog.js';
import { copyToLake } from './duck.js';
import { EpochMismatchError } from './errors.js';
import { epochFileKey, epochSnapshotId } from './naming.js';
import type { ChangeCodec } from './types.js';

/**
 * The changelog's half of an epoch: every change of the batch, as received, appended as one data file. It is
 * committed before the state, so a crash in between is finished by the retry: the changelog snapshot is found by
 * its id (and its file left alone), and only the state is committed.
 */
export interface ChangesCommit {
  readonly table: LoadedTable;
  readonly snapshotId: bigint;
  readonly committed: boolean;
}

/** The changelog table of a state table, created (next to it, `__changes`) when it does not exist yet. */
export async function openChangelog(
  store: ObjectStore,
  catalog: Catalog,
  state: LoadedTable,
  stateSchema: IcebergSchema,
): Promise<LoadedTable> {
  const identifier = changelogIdentifier(state.identifier);
  try {
    return await loadTableMetadata(store, catalog, identifier);
  } catch (error) {
    if (!(error instanceof TableNotFoundError)) throw error;
  }
  try {
    return await createTable(store, catalog, {
      identifier,
      location: changelogLocation(state.location),
      schema: changelogSchema(stateSchema),
      properties: { [TABLE_PROPERTY.sourceTable]: state.identifier, [TABLE_PROPERTY.tableKind]: 'changelog' },
    });
  } catch (error) {
    // Another attempt created it between our look and our create: use theirs.
    if (error instanceof TableExistsError) return loadTableMetadata(store, catalog, identifier);
    throw error;
  }
}

export async function commitChanges(
  store: ObjectStore,
  catalog: Catalog,
  connection: DuckDBConnection,
  state: LoadedTable,
  stateSchema: IcebergSchema,
  codec: ChangeCodec,
  epoch: number,
  changeCount: number,
  summary: Readonly<Record<string, string>>,
): Promise<ChangesCommit> {
  const table = await openChangelog(store, catalog, state, stateSchema);
  const snapshotId = epochSnapshotId(table.identifier, epoch);
  const existing = table.metadata.snapshots.find((s) => s['snapshot-id'] === snapshotId);
  if (existing) {
    // Committed by an attempt that crashed before the state: it must have been this very batch.
    if (existing.summary[SUMMARY_KEY.lsn] !== summary[SUMMARY_KEY.lsn]) {
      throw new EpochMismatchError(state.identifier, epoch, 'the changelog holds this epoch up to another LSN', {
        changelogLsn: existing.summary[SUMMARY_KEY.lsn] ?? '',
        batchLsn: summary[SUMMARY_KEY.lsn] ?? '',
      });
    }
    return { table, snapshotId, committed: false };
  }
  const files = [];
  if (changeCount > 0) {
    const copy = changelogCopy(stateSchema, codec);
    const key = epochFileKey(table.location, table.metadata['table-uuid'], epoch, 'changes');
    files.push(
      await copyToLake(connection, store, key, `SELECT ${copy.select} FROM ev AS e ORDER BY e.ord`, copy.fieldIds),
    );
  }
  const result = await appendFiles(store, catalog, table.identifier, {
    dataFiles: files,
    snapshotId,
    summary: { ...summary, [SUMMARY_KEY.changes]: String(changeCount) },
  });
  return { table: result.table, snapshotId, committed: result.committed };
}
