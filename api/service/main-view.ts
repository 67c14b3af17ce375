import { summaryEpoch, summaryLsn } from '../../lake/contract/index.js';
import type { Snapshot, TableMetadata } from '../../lake/iceberg/metadata.js';
import { branchSnapshot, MAIN_BRANCH } from '../../lake/iceberg/refs.js';
import type { IcebergTableRef, ManifestTable } from '../../lake/manifest.js';
import { snapshotLiveRows } from '../../lake/state/manifest-entry.js';
import type { LakeView, ManifestAt } from './lake-view.js';

/**
 * The `main` ref as a whole-lake point: a manifest version as `main` sees it. Its entries name the tables' newest
 * (staging) snapshots; `main` is the manifest's `main` record, the cut of the last promotion, one consistent point
 * of the source for every table (lake/state/promotion.ts). Each entry moves to the snapshots the record names; a
 * table the record does not name (never promoted, or joined since) to its metadata's `main` branch, which then is
 * its only line. Entries where `main` and the newest snapshot agree stay as written, without a metadata read.
 */
export async function mainView(lake: LakeView, at: ManifestAt): Promise<ManifestAt> {
  const record = at.manifest.main;
  const entries = await Promise.all(
    Object.entries(at.manifest.tables).map(async ([table, entry]): Promise<[string, ManifestTable]> => {
      const promoted = record?.tables[table];
      if (promoted && sameIds(entry, promoted.state_snapshot_id, promoted.changes_snapshot_id)) return [table, entry];
      const state = await lake.metadataAt(entry.state.metadata_location);
      const changes = entry.changes && (await lake.metadataAt(entry.changes.metadata_location));
      const stateId = promoted ? promoted.state_snapshot_id : idOf(branchSnapshot(state, MAIN_BRANCH));
      const changesId = promoted ? promoted.changes_snapshot_id : idOf(changes && branchSnapshot(changes, MAIN_BRANCH));
      if (sameIds(entry, stateId, changesId)) return [table, entry];
      return [table, entryAtMain(entry, state, stateId, changesId, promoted?.lsn)];
    }),
  );
  return { ...at, manifest: { ...at.manifest, tables: Object.fromEntries(entries) } };
}

const idOf = (snapshot: Snapshot | undefined): string | null => (snapshot ? String(snapshot['snapshot-id']) : null);

function sameIds(entry: ManifestTable, stateId: string | null, changesId: string | null): boolean {
  return entry.state.snapshot_id === stateId && (entry.changes?.snapshot_id ?? null) === changesId;
}

/** The entry of a table at its `main` snapshots: what it held there (rows, epoch, LSN, columns) from that snapshot. */
function entryAtMain(
  entry: ManifestTable,
  state: TableMetadata,
  stateId: string | null,
  changesId: string | null,
  promotedLsn: string | undefined,
): ManifestTable {
  const snapshot = state.snapshots.find((s) => String(s['snapshot-id']) === stateId);
  const schemaId = snapshot?.['schema-id'] ?? entry.state.schema_id;
  const schema = state.schemas.find((s) => s['schema-id'] === schemaId);
  const at = (ref: IcebergTableRef, id: string | null): IcebergTableRef => ({
    ...ref,
    snapshot_id: id,
    ...(ref === entry.state ? { schema_id: schemaId } : {}),
  });
  return {
    ...entry,
    state: at(entry.state, stateId),
    ...(entry.changes ? { changes: at(entry.changes, changesId) } : {}),
    columns: schema ? schema.fields.map((f) => f.name) : entry.columns,
    row_count: snapshotLiveRows(snapshot),
    epoch: summaryEpoch(snapshot?.summary) ?? entry.epoch,
    committed_lsn: summaryLsn(snapshot?.summary) ?? promotedLsn ?? entry.committed_lsn,
    schema_version: schemaId,
  };
}
