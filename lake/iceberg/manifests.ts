import { randomUUID } from 'node:crypto';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import { LakeFormatError } from '../errors.js';
import { mapBounded } from '../storage/bounded.js';
import type { ObjectStore } from '../storage/index.js';
import { joinKey } from '../storage/keys.js';
import {
  decodeManifest,
  decodeManifestList,
  encodeManifest,
  type DataFileRecord,
  type IntMapEntry,
  type ManifestEntryRecord,
  type ManifestFileRecord,
} from './avro.js';
import type { DataFile } from './table.js';

/**
 * Writing the manifests of a new snapshot: the one place that turns entries into a manifest file and its manifest
 * list record (counts, sequence numbers), carries the parent's manifests over, and merges them when they pile up.
 */
export interface ManifestWriter {
  readonly schema: IcebergSchema;
  /** Storage key of the table root: new manifests go to its metadata directory. */
  readonly location: string;
  readonly snapshotId: bigint;
  readonly sequenceNumber: number;
  put(key: string, body: Uint8Array): Promise<string>;
}

/** A manifest of `entries` (0 data, 1 deletes), and its record for the manifest list. */
export async function writeManifest(
  writer: ManifestWriter,
  content: number,
  entries: readonly ManifestEntryRecord[],
): Promise<ManifestFileRecord> {
  const bytes = encodeManifest({ schema: writer.schema, content: content === 0 ? 'data' : 'deletes', entries });
  const key = joinKey(writer.location, 'metadata', `${randomUUID()}-m${content}.avro`);
  const count = (status: number): number => entries.filter((e) => e.status === status).length;
  const rows = (status: number): number =>
    entries.filter((e) => e.status === status).reduce((n, e) => n + Number(e.data_file.record_count), 0);
  const sequences = entries.map((e) => Number(e.sequence_number ?? writer.sequenceNumber));
  return {
    manifest_path: await writer.put(key, bytes),
    manifest_length: bytes.byteLength,
    partition_spec_id: 0,
    content,
    sequence_number: writer.sequenceNumber,
    min_sequence_number: sequences.length > 0 ? Math.min(...sequences) : writer.sequenceNumber,
    added_snapshot_id: writer.snapshotId,
    added_files_count: count(1),
    existing_files_count: count(0),
    deleted_files_count: count(2),
    added_rows_count: rows(1),
    existing_rows_count: rows(0),
    deleted_rows_count: rows(2),
    partitions: [],
    key_metadata: null,
  };
}

/** The new files of a snapshot as ADDED entries: one manifest per content. */
export async function addedManifests(
  files: readonly DataFile[],
  writer: ManifestWriter,
): Promise<ManifestFileRecord[]> {
  const manifests: ManifestFileRecord[] = [];
  for (const content of [0, 1] as const) {
    const group = files.filter((f) => (f.content ?? 0) === content);
    if (group.length === 0) continue;
    const entries = group.map((file) => ({
      status: 1 as const,
      snapshot_id: writer.snapshotId,
      sequence_number: writer.sequenceNumber,
      file_sequence_number: writer.sequenceNumber,
      data_file: dataFileRecord(file),
    }));
    manifests.push(await writeManifest(writer, content, entries));
  }
  return manifests;
}

/**
 * The manifests a new snapshot carries over from its parent: those with a live (added or existing) file. A manifest
 * of only DELETED entries records the parent's removals; Java drops it from the next snapshot, and so do we.
 */
export const liveManifests = (manifests: readonly ManifestFileRecord[]): ManifestFileRecord[] =>
  manifests.filter((m) => m.added_files_count + m.existing_files_count > 0);

/** Iceberg's `commit.manifest.min-count-to-merge` default: this many manifests of one content are merged into one. */
export const MANIFESTS_TO_MERGE = 100;

/**
 * The parent's live manifests for a fast append, merged as Iceberg's merge-append does once one content has
 * `MANIFESTS_TO_MERGE` of them: their live entries become EXISTING entries of one new manifest, each keeping its
 * snapshot and sequence numbers. Without it every epoch's manifest list (and every read's planning) grows by the
 * manifests of every epoch before it.
 */
export async function carriedManifests(
  store: ObjectStore,
  manifestList: string,
  writer: ManifestWriter,
): Promise<ManifestFileRecord[]> {
  const live = liveManifests(await readManifestList(store, manifestList));
  const carried: ManifestFileRecord[] = [];
  for (const content of [0, 1]) {
    const group = live.filter((m) => (m.content === 0 ? 0 : 1) === content);
    if (group.length < MANIFESTS_TO_MERGE) {
      carried.push(...group);
      continue;
    }
    const entries: ManifestEntryRecord[] = [];
    for (const manifest of group) {
      for (const entry of await readManifestEntries(store, manifest)) {
        if (entry.status !== 2) entries.push({ ...entry, status: 0 });
      }
    }
    carried.push(await writeManifest(writer, content, entries));
  }
  return carried;
}

/** A manifest's entries, with the sequence numbers ADDED entries inherit from the manifest made explicit. */
export async function readManifestEntries(
  store: ObjectStore,
  manifest: ManifestFileRecord,
): Promise<ManifestEntryRecord[]> {
  const key = store.keyOf(manifest.manifest_path);
  const body = key === undefined ? undefined : await store.get(key);
  if (!body)
    throw new LakeFormatError('a manifest of the current snapshot is unreadable', { file: manifest.manifest_path });
  return decodeManifest(body).map((entry) => ({
    ...entry,
    sequence_number: entry.sequence_number ?? manifest.sequence_number,
    file_sequence_number: entry.file_sequence_number ?? manifest.sequence_number,
  }));
}

/**
 * The manifest lists and manifests one maintenance run reads, each file once: expiry and the orphan sweep after it
 * look at the same kept manifests. The files never change once written, so nothing read here goes stale; the
 * memo lives as long as the run that made it.
 */
export class ManifestReads {
  private readonly lists = new Map<string, Promise<ManifestFileRecord[]>>();
  private readonly manifests = new Map<string, Promise<ManifestEntryRecord[]>>();

  constructor(readonly store: ObjectStore) {}

  list(location: string): Promise<ManifestFileRecord[]> {
    return memo(this.lists, location, () => readManifestList(this.store, location));
  }

  entries(manifest: ManifestFileRecord): Promise<ManifestEntryRecord[]> {
    return memo(this.manifests, manifest.manifest_path, () => readManifestEntries(this.store, manifest));
  }
}

function memo<V>(map: Map<string, Promise<V>>, key: string, read: () => Promise<V>): Promise<V> {
  let value = map.get(key);
  if (!value) {
    value = read();
    map.set(key, value);
    // A failed read is not remembered: the caller sees the error, a later call reads again.
    value.catch(() => map.delete(key));
  }
  return value;
}

/** Every manifest the snapshots' lists name, once each, by location. */
export async function manifestsOfSnapshots(
  reads: ManifestReads,
  snapshots: readonly { readonly 'manifest-list': string }[],
): Promise<Map<string, ManifestFileRecord>> {
  const manifests = new Map<string, ManifestFileRecord>();
  for (const list of await mapBounded(snapshots, (snapshot) => reads.list(snapshot['manifest-list']))) {
    for (const manifest of list) manifests.set(manifest.manifest_path, manifest);
  }
  return manifests;
}

export async function readManifestList(store: ObjectStore, location: string): Promise<ManifestFileRecord[]> {
  const key = store.keyOf(location);
  const body = key === undefined ? undefined : await store.get(key);
  if (!body) throw new LakeFormatError('manifest list of the current snapshot is unreadable', { file: location });
  return decodeManifestList(body);
}

/** Absent stats are written as empty maps, not null: some readers (PyIceberg's inspect) iterate them blindly. */
const intMap = <V>(values: Readonly<Record<number, V>> | undefined): IntMapEntry<V>[] =>
  Object.entries(values ?? {})
    .map(([key, value]) => ({ key: Number(key), value }))
    .sort((a, b) => a.key - b.key);

/** avsc encodes `bytes` from Buffers only. */
const asBuffer = ({ key, value }: IntMapEntry<Uint8Array>): IntMapEntry<Uint8Array> => ({
  key,
  value: Buffer.from(value.buffer, value.byteOffset, value.byteLength),
});

function dataFileRecord(file: DataFile): DataFileRecord {
  if (!file.path) throw new LakeFormatError('data file without a path', {});
  return {
    content: file.content ?? 0,
    file_path: file.path,
    file_format: file.fileFormat ?? 'PARQUET',
    partition: {},
    record_count: file.recordCount,
    file_size_in_bytes: file.fileSizeInBytes,
    column_sizes: intMap(file.columnSizes),
    value_counts: intMap(file.valueCounts),
    null_value_counts: intMap(file.nullValueCounts),
    nan_value_counts: intMap(file.nanValueCounts),
    lower_bounds: intMap(file.lowerBounds).map(asBuffer),
    upper_bounds: intMap(file.upperBounds).map(asBuffer),
    key_metadata: null,
    split_offsets: file.splitOffsets ? [...file.splitOffsets] : null,
    equality_ids: null,
    sort_order_id: null,
  };
}
