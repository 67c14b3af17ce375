import type { Logger } from '../../core/log/index.js';
import type { LsnText } from '../../core/lsn/index.js';
import type { Catalog } from '../catalog/index.js';
import { pgcdcSummary, TABLE_PROPERTY } from '../contract/index.js';
import { TableExistsError } from '../errors.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import type { SourceTable } from '../../core/types/source.js';
import { appendFiles, createTable, type DataFile } from '../iceberg/table.js';
import type { ManifestStore } from '../manifest.js';
import type { ObjectStore } from '../storage/index.js';
import { recordBaseInManifest } from './manifest-entry.js';
import { baseSnapshotId } from './naming.js';

/**
 * Committing a table's base snapshot (epoch 0), the start every epoch builds on: the table is created, one snapshot
 * adds every file the snapshot's chunks wrote, then the manifest records it. Every step can be repeated: the table
 * is found when it exists, the snapshot id derives from (table, consistent point) so a retried commit finds its own
 * snapshot, and the manifest entry is written by the same writer as the epochs' (manifest-entry.ts).
 */
export interface BaseContext {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  readonly manifest: ManifestStore;
  readonly log: Logger;
}

export interface BaseCommit {
  readonly identifier: string;
  readonly location: string;
  readonly schema: IcebergSchema;
  readonly files: readonly DataFile[];
  /** The slot's consistent point: the snapshot holds every transaction committed at or below it. */
  readonly lsn: LsnText;
  readonly slot: string;
  /** The source table's primary key, in key order; empty for a table without one. */
  readonly primaryKey: readonly string[];
  /** The source table the schema was planned from, kept as a table property (TABLE_PROPERTY.baseSourceColumns). */
  readonly sourceTable?: SourceTable;
  readonly source: { readonly database: string; readonly host: string; readonly publication: string };
  /**
   * A table that joined while streaming: its copy was read under a snapshot of its own (not the slot's). Kept as
   * table properties: the snapshot's xids and `seenBelow`, the position read after it was taken (every transaction
   * it sees committed below). `lsn` is then a position below which every transaction is in the copy.
   */
  readonly late?: { readonly xids: string; readonly seenBelow: LsnText };
}

/** Commits the base snapshot; returns its snapshot id (decimal). */
export async function commitBase(ctx: BaseContext, commit: BaseCommit): Promise<string> {
  const { store, catalog } = ctx;
  try {
    await createTable(store, catalog, {
      identifier: commit.identifier,
      location: commit.location,
      schema: commit.schema,
      properties: {
        [TABLE_PROPERTY.sourceTable]: commit.identifier,
        [TABLE_PROPERTY.slot]: commit.slot,
        ...(commit.sourceTable === undefined
          ? {}
          : { [TABLE_PROPERTY.baseSourceColumns]: JSON.stringify(commit.sourceTable) }),
        ...(commit.late === undefined
          ? {}
          : { [TABLE_PROPERTY.snapshotXids]: commit.late.xids, [TABLE_PROPERTY.snapshotLsn]: commit.late.seenBelow }),
      },
    });
  } catch (error) {
    if (!(error instanceof TableExistsError)) throw error;
  }
  const result = await appendFiles(store, catalog, commit.identifier, {
    dataFiles: commit.files,
    snapshotId: baseSnapshotId(commit.identifier, commit.lsn),
    summary: pgcdcSummary({ kind: 'snapshot', epoch: 0, lsn: commit.lsn, slot: commit.slot }),
  });
  await recordBaseInManifest(ctx.manifest, {
    state: result.table,
    primaryKey: commit.primaryKey,
    epoch: 0,
    committedLsn: commit.lsn,
    source: { ...commit.source, slot: commit.slot },
    late: commit.late !== undefined,
  });
  const snapshotId = String(result.snapshot['snapshot-id']);
  ctx.log.info(
    { table: commit.identifier, snapshotId, files: commit.files.length, committed: result.committed },
    'base snapshot committed',
  );
  return snapshotId;
}
