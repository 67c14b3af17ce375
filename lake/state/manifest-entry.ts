import type { Logger } from '../../core/log/index.js';
import { currentSchema, type Snapshot } from '../iceberg/metadata.js';
import { headSnapshot } from '../iceberg/refs.js';
import type { LoadedTable } from '../iceberg/table.js';
import {
  emptyManifest,
  type IcebergTableRef,
  type ManifestSource,
  type ManifestStore,
  type ManifestTable,
} from '../manifest.js';

/**
 * A table's entry in pg-cdc's manifest.json, written after its base snapshot (epoch 0) and after every epoch: the
 * state and changelog snapshots, the epoch and the committed LSN. The one writer of entries, so the base and the
 * epochs derive every field the same way, from the committed tables themselves.
 */
export interface ManifestEntryInput {
  /** The state table as committed. */
  readonly state: LoadedTable;
  /** The changelog table as committed; none before the first epoch. */
  readonly changes?: LoadedTable;
  /** The source table's primary key, in key order; empty for a table identified by its whole row. */
  readonly primaryKey: readonly string[];
  readonly epoch: number;
  readonly committedLsn: string;
}

function tableRef(table: LoadedTable): IcebergTableRef {
  const snapshot = headSnapshot(table.metadata);
  return {
    metadata_location: table.metadataLocation,
    snapshot_id: snapshot ? String(snapshot['snapshot-id']) : null,
    schema_id: table.metadata['current-schema-id'],
  };
}

/**
 * Live rows of the current snapshot: pg-cdc's position deletes each remove exactly one live row. Taken from the
 * snapshot's summary rather than from the files a commit added, so that it counts what a reader sees.
 */
function liveRows(table: LoadedTable): number {
  return snapshotLiveRows(headSnapshot(table.metadata));
}

/** Live rows of a snapshot, from its summary (see liveRows). */
export function snapshotLiveRows(snapshot: Snapshot | undefined): number {
  const summary = snapshot?.summary;
  const total = Number(summary?.['total-records'] ?? 0) - Number(summary?.['total-position-deletes'] ?? 0);
  return Math.max(0, total);
}

/** The entry of a table committed as `input` says. */
export function manifestEntry(input: ManifestEntryInput): ManifestTable {
  const schema = currentSchema(input.state.metadata);
  return {
    state: tableRef(input.state),
    ...(input.changes ? { changes: tableRef(input.changes) } : {}),
    columns: schema.fields.map((field) => field.name),
    primary_key: [...input.primaryKey],
    row_count: liveRows(input.state),
    epoch: input.epoch,
    committed_lsn: input.committedLsn,
    schema_version: schema['schema-id'],
  };
}

/**
 * An entry that already names these metadata files, or a later epoch, is not written again (nor moved back). The
 * files, not only the snapshots: a compaction's expiry moves a table to new metadata under the same snapshot.
 */
function isCurrent(previous: ManifestTable | undefined, entry: ManifestTable): boolean {
  if (!previous) return false;
  return (
    previous.epoch > entry.epoch ||
    (previous.epoch === entry.epoch &&
      previous.state.metadata_location === entry.state.metadata_location &&
      previous.changes?.metadata_location === entry.changes?.metadata_location)
  );
}

/**
 * Records a table's base snapshot: the manifest is created when this is the first table, and its source names the
 * slot and the consistent point the snapshot was taken at. A retried commit changes nothing.
 */
export async function recordBaseInManifest(
  manifest: ManifestStore,
  input: ManifestEntryInput & {
    readonly source: Omit<ManifestSource, 'consistent_point_lsn'>;
    /** A table that joined while streaming: the manifest's source (the slot's consistent point) stays as it is. */
    readonly late?: boolean;
  },
): Promise<void> {
  const entry = manifestEntry(input);
  const identifier = input.state.identifier;
  if (isCurrent((await manifest.read())?.value.tables[identifier], entry)) return;
  await manifest.update((current) => {
    const base = current ?? emptyManifest({ ...input.source, consistent_point_lsn: input.committedLsn });
    if (isCurrent(base.tables[identifier], entry)) return base;
    const source =
      input.late === true
        ? base.source
        : { ...base.source, slot: input.source.slot, consistent_point_lsn: input.committedLsn };
    return { ...base, source, tables: { ...base.tables, [identifier]: entry } };
  });
}

/**
 * Marks a table whose source table was dropped. Its entry and its Iceberg tables stay: readers see it as of its
 * last epoch. Marking again changes nothing.
 */
export async function recordDroppedInManifest(manifest: ManifestStore, identifier: string, at: Date): Promise<boolean> {
  const previous = (await manifest.read())?.value.tables[identifier];
  if (!previous || previous.dropped_at !== undefined) return false;
  await manifest.update((current) => {
    const entry = current?.tables[identifier];
    if (!current || !entry || entry.dropped_at !== undefined) return current!;
    return { ...current, tables: { ...current.tables, [identifier]: { ...entry, dropped_at: at.toISOString() } } };
  });
  return true;
}

/**
 * Records an epoch. Idempotent: an entry already at this epoch or beyond is left alone, so a retry only catches up
 * a manifest that a crash left behind the lake. A lake without a manifest (no snapshot recorded one) is logged and
 * left without.
 */
export async function recordEpochInManifest(
  manifest: ManifestStore,
  log: Logger,
  input: ManifestEntryInput,
): Promise<void> {
  const identifier = input.state.identifier;
  const existing = await manifest.read();
  if (!existing) {
    log.warn({ table: identifier, epoch: input.epoch }, 'no pg-cdc manifest in the lake: epoch not recorded there');
    return;
  }
  const entry = manifestEntry(input);
  if (isCurrent(existing.value.tables[identifier], entry)) return;
  await manifest.update((current) => {
    const base = current ?? existing.value;
    const previous = base.tables[identifier];
    if (isCurrent(previous, entry)) return base;
    // A dropped table's maintenance (compaction, expiry) keeps the mark.
    const kept = previous?.dropped_at === undefined ? entry : { ...entry, dropped_at: previous.dropped_at };
    return { ...base, tables: { ...base.tables, [identifier]: kept } };
  });
}

/**
 * Records a table after compaction or snapshot expiry: new metadata files (and, after a rewrite, new snapshots)
 * at the same epoch and LSN, which the table's entry keeps, with its primary key.
 */
export async function recordMaintenanceInManifest(
  manifest: ManifestStore,
  log: Logger,
  input: { readonly state: LoadedTable; readonly changes?: LoadedTable },
): Promise<void> {
  const previous = (await manifest.read())?.value.tables[input.state.identifier];
  if (!previous) {
    log.warn(
      { table: input.state.identifier },
      'the table has no entry in the manifest: maintenance not recorded there',
    );
    return;
  }
  await recordEpochInManifest(manifest, log, {
    ...input,
    primaryKey: previous.primary_key,
    epoch: previous.epoch,
    committedLsn: previous.committed_lsn,
  });
}
