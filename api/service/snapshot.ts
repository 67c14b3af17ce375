import { isChangelogIdentifier, stateIdentifierOf, summaryEpoch, summaryLsn } from '../../lake/contract/index.js';
import { loadTableMetadata } from '../../lake/iceberg/table.js';
import type { LiveFile } from '../../lake/reader.js';
import type { SnapshotInput } from '../schemas/inputs.js';
import type { SnapshotWire } from '../schemas/outputs.js';
import type { LakeView, ManifestAt } from './lake-view.js';
import { tableNotFound } from './not-found.js';
import type { VisibleSet } from './visibility.js';

/**
 * Where a table's snapshot lives, so an agent can read the Parquet with its own storage identity instead of having
 * pg-cdc proxy the bytes: snapshot id, metadata file (a reader opens it as a static table) and the live files.
 */
const file = (f: LiveFile): SnapshotWire['data_files'][number] => ({
  path: f.path,
  record_count: f.recordCount,
  file_size_in_bytes: f.fileSizeInBytes,
});

export async function snapshotOf(
  lake: LakeView,
  at: ManifestAt,
  visible: VisibleSet,
  input: SnapshotInput,
): Promise<SnapshotWire> {
  const identifier = input.table;
  const base = stateIdentifierOf(identifier);
  const kind = isChangelogIdentifier(identifier) ? 'changes' : 'state';
  const entry = at.manifest.tables[base];
  const ref = kind === 'state' ? entry?.state : entry?.changes;
  if (!visible.tables.has(base) || !ref) throw tableNotFound(identifier);

  // A ref reads through the metadata file its manifest version names; an explicit snapshot id through the
  // catalog's current metadata, which lists every snapshot still retained.
  const metadataLocation =
    input.snapshot_id === undefined
      ? ref.metadata_location
      : (await loadTableMetadata(lake.store, lake.catalog, identifier)).metadataLocation;
  const metadata = await lake.metadataAt(metadataLocation);
  const snapshotId = input.snapshot_id ?? ref.snapshot_id;
  const files = snapshotId === null ? undefined : await lake.files(identifier, BigInt(snapshotId), metadataLocation);
  const snapshot = files?.snapshot;
  const data = files?.dataFiles ?? [];
  const deletes = files?.deleteFiles ?? [];
  const location = metadata.location.replace(/\/$/, '');
  const summary: Readonly<Record<string, string>> = snapshot?.summary ?? {};
  return {
    table: identifier,
    kind,
    snapshot_id: snapshot ? String(snapshot['snapshot-id']) : null,
    parent_snapshot_id: snapshot?.['parent-snapshot-id'] === undefined ? null : String(snapshot['parent-snapshot-id']),
    committed_at: snapshot ? new Date(snapshot['timestamp-ms']).toISOString() : null,
    operation: snapshot?.summary.operation ?? null,
    lsn: summaryLsn(summary) ?? null,
    epoch: summaryEpoch(summary) ?? null,
    schema_id: snapshot?.['schema-id'] ?? ref.schema_id,
    table_location: location,
    data_location: `${location}/data`,
    // A reader that opens this metadata file as a static table finds the snapshot in it.
    metadata_location: metadataLocation,
    record_count:
      data.reduce((n, f) => n + f.recordCount, 0) -
      deletes.filter((f) => f.content === 1).reduce((n, f) => n + f.recordCount, 0),
    data_files: data.map(file),
    delete_files: deletes.map((f) => ({ ...file(f), content: f.content === 2 ? 'equality' : 'position' })),
  };
}
