import type { Logger } from '../../core/log/index.js';
import { currentSchema, currentSnapshot } from '../iceberg/metadata.js';
import type { LoadedTable } from '../iceberg/table.js';
import type { ManifestStore, ManifestTable, IcebergTableRef } from '../manifest.js';
import type { ChangeCodec } from './types.js';

/**
 * After an epoch, pg-cdc's manifest.json names the new state and changelog snapshots, the epoch and the committed
 * LSN. Idempotent: an entry already at this epoch or beyond is left alone, so a retry only catches up a manifest
 * that a crash left behind the lake.
 */
function tableRef(table: LoadedTable): IcebergTableRef {
  const snapshot = currentSnapshot(table.metadata);
  return {
    metadata_location: table.metadataLocation,
    snapshot_id: snapshot ? String(snapshot['snapshot-id']) : null,
    schema_id: table.metadata['current-schema-id'],
  };
}

/** Live rows of the current snapshot: pg-cdc's position deletes each remove exactly one live row. */
function liveRows(table: LoadedTable): number {
  const summary = currentSnapshot(table.metadata)?.summary;
  const total = Number(summary?.['total-records'] ?? 0) - Number(summary?.['total-position-deletes'] ?? 0);
  return Math.max(0, total);
}

export async function recordEpochInManifest(
  manifest: ManifestStore,
  log: Logger,
  input: {
    readonly state: LoadedTable;
    readonly changes: LoadedTable;
    readonly codec: ChangeCodec;
    readonly epoch: number;
    readonly committedLsn: string;
  },
): Promise<void> {
  const identifier = input.state.identifier;
  const existing = await manifest.read();
  if (!existing) {
    log.warn({ table: identifier, epoch: input.epoch }, 'no pg-cdc manifest in the lake: epoch not recorded there');
    return;
  }
  if ((existing.value.tables[identifier]?.epoch ?? -1) >= input.epoch) return;
  const schema = currentSchema(input.state.metadata);
  await manifest.update((current) => {
    const base = current ?? existing.value;
    const previous = base.tables[identifier];
    if (previous && previous.epoch >= input.epoch) return base;
    const names = new Map(schema.fields.map((f) => [f.id, f.name]));
    const entry: ManifestTable = {
      columns: previous?.columns ?? schema.fields.map((f) => f.name),
      primary_key:
        previous?.primary_key ??
        (input.codec.identityKind === 'primary-key'
          ? input.codec.identity.map((id) => names.get(id) ?? String(id))
          : []),
      schema_version: previous?.schema_version ?? schema['schema-id'],
      state: tableRef(input.state),
      changes: tableRef(input.changes),
      row_count: liveRows(input.state),
      epoch: input.epoch,
      committed_lsn: input.committedLsn,
    };
    return { ...base, tables: { ...base.tables, [identifier]: entry } };
  });
}
