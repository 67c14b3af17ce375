import { randomUUID } from 'node:crypto';
import { LakeFormatError } from '../errors.js';
import { parseJson, stringifyJson, toBigInt } from '../json.js';
import { lastColumnId, type IcebergSchema } from '../../core/types/iceberg.js';

/**
 * Iceberg v2 table metadata (the spec's "Table Metadata" JSON). Snapshot ids are bigint: they are random
 * 63-bit longs. Fields this writer does not manage (statistics, other tools' refs ...) are carried through
 * untouched when a file written elsewhere is read and re-written.
 */
export interface Snapshot {
  readonly 'snapshot-id': bigint;
  readonly 'parent-snapshot-id'?: bigint;
  readonly 'sequence-number': number;
  readonly 'timestamp-ms': number;
  readonly 'manifest-list': string;
  readonly summary: { readonly operation: SnapshotOperation } & Readonly<Record<string, string>>;
  readonly 'schema-id'?: number;
}

export type SnapshotOperation = 'append' | 'replace' | 'overwrite' | 'delete';

export interface SnapshotRef {
  readonly 'snapshot-id': bigint;
  readonly type: 'branch' | 'tag';
  readonly [key: string]: unknown;
}

export interface TableMetadata {
  readonly 'format-version': 2;
  readonly 'table-uuid': string;
  readonly location: string;
  readonly 'last-sequence-number': number;
  readonly 'last-updated-ms': number;
  readonly 'last-column-id': number;
  readonly schemas: readonly IcebergSchema[];
  readonly 'current-schema-id': number;
  readonly 'partition-specs': readonly { readonly 'spec-id': number; readonly fields: readonly unknown[] }[];
  readonly 'default-spec-id': number;
  readonly 'last-partition-id': number;
  readonly properties: Readonly<Record<string, string>>;
  /** -1 while the table has no snapshot (what Java writes; PyIceberg and icebird read it as "none"). */
  readonly 'current-snapshot-id': bigint;
  readonly snapshots: readonly Snapshot[];
  readonly 'snapshot-log': readonly { readonly 'snapshot-id': bigint; readonly 'timestamp-ms': number }[];
  readonly 'metadata-log': readonly { readonly 'metadata-file': string; readonly 'timestamp-ms': number }[];
  readonly 'sort-orders': readonly { readonly 'order-id': number; readonly fields: readonly unknown[] }[];
  readonly 'default-sort-order-id': number;
  readonly refs: Readonly<Record<string, SnapshotRef>>;
}

/** The table property that bounds the metadata log, and the spec's default for it. */
export const METADATA_LOG_MAX_PROPERTY = 'write.metadata.previous-versions-max';
const METADATA_LOG_MAX = 100;

/** How many earlier metadata files the table keeps in its log: its own property, else the spec's default. */
export function metadataLogMax(metadata: TableMetadata): number {
  const configured = Number(metadata.properties[METADATA_LOG_MAX_PROPERTY]);
  return Number.isSafeInteger(configured) && configured >= 1 ? configured : METADATA_LOG_MAX;
}

/** The metadata log with `previous` (the file being replaced) appended, trimmed to the table's bound. */
export function appendMetadataLog(
  metadata: TableMetadata,
  previous: string,
  previousUpdatedMs: number,
): TableMetadata['metadata-log'] {
  return [...metadata['metadata-log'], { 'metadata-file': previous, 'timestamp-ms': previousUpdatedMs }].slice(
    -metadataLogMax(metadata),
  );
}

export interface NewTableMetadataInput {
  /** The table location URI (store.uri of the table's key). */
  readonly location: string;
  readonly schema: IcebergSchema;
  readonly properties?: Readonly<Record<string, string>>;
  readonly tableUuid?: string;
  readonly nowMs?: number;
}

/** An unpartitioned, unsorted v2 table with no snapshot. */
export function newTableMetadata(input: NewTableMetadataInput): TableMetadata {
  return {
    'format-version': 2,
    'table-uuid': input.tableUuid ?? randomUUID(),
    location: input.location.replace(/\/+$/, ''),
    'last-sequence-number': 0,
    'last-updated-ms': input.nowMs ?? Date.now(),
    'last-column-id': lastColumnId(input.schema),
    schemas: [input.schema],
    'current-schema-id': input.schema['schema-id'],
    'partition-specs': [{ 'spec-id': 0, fields: [] }],
    'default-spec-id': 0,
    // Partition field ids start at 1000; an unpartitioned table has used none, so the last one is 999.
    'last-partition-id': 999,
    properties: { ...input.properties },
    'current-snapshot-id': -1n,
    snapshots: [],
    'snapshot-log': [],
    'metadata-log': [],
    'sort-orders': [{ 'order-id': 0, fields: [] }],
    'default-sort-order-id': 0,
    refs: {},
  };
}

export function currentSnapshot(metadata: TableMetadata): Snapshot | undefined {
  const id = metadata['current-snapshot-id'];
  return id < 0n ? undefined : metadata.snapshots.find((s) => s['snapshot-id'] === id);
}

export function currentSchema(metadata: TableMetadata): IcebergSchema {
  const schema = metadata.schemas.find((s) => s['schema-id'] === metadata['current-schema-id']);
  if (!schema) throw new LakeFormatError('current schema missing from table metadata', { table: metadata.location });
  return schema;
}

/**
 * The next metadata: `snapshot` becomes current (and the head of `main`), and the metadata file being replaced
 * is recorded in the metadata log.
 */
export function withSnapshot(
  metadata: TableMetadata,
  snapshot: Snapshot,
  previousMetadataLocation: string,
  nowMs: number = Date.now(),
): TableMetadata {
  const metadataLog = appendMetadataLog(metadata, previousMetadataLocation, metadata['last-updated-ms']);
  return {
    ...metadata,
    'last-sequence-number': snapshot['sequence-number'],
    'last-updated-ms': Math.max(nowMs, snapshot['timestamp-ms']),
    'current-snapshot-id': snapshot['snapshot-id'],
    snapshots: [...metadata.snapshots, snapshot],
    'snapshot-log': [
      ...metadata['snapshot-log'],
      { 'snapshot-id': snapshot['snapshot-id'], 'timestamp-ms': snapshot['timestamp-ms'] },
    ],
    'metadata-log': metadataLog,
    refs: { ...metadata.refs, main: { 'snapshot-id': snapshot['snapshot-id'], type: 'branch' } },
  };
}

export interface FileTotals {
  readonly dataFiles: number;
  readonly dataRecords: number;
  readonly deleteFiles: number;
  readonly positionDeletes: number;
  readonly filesSize: number;
}

/**
 * A snapshot summary with the keys Java's SnapshotSummary writes. Totals carry over from the parent, less what the
 * snapshot removed: readers (and PyIceberg when it appends after us) take row and file counts from here without
 * opening a manifest.
 */
export function snapshotSummary(
  operation: SnapshotOperation,
  added: FileTotals,
  previous: Snapshot['summary'] | undefined,
  extra: Readonly<Record<string, string>> = {},
  removed?: FileTotals,
): Snapshot['summary'] {
  const minus: Record<string, number> = {
    'total-records': removed?.dataRecords ?? 0,
    'total-files-size': removed?.filesSize ?? 0,
    'total-data-files': removed?.dataFiles ?? 0,
    'total-delete-files': removed?.deleteFiles ?? 0,
    'total-position-deletes': removed?.positionDeletes ?? 0,
  };
  const total = (key: string, add: number): string => String(Number(previous?.[key] ?? '0') + add - (minus[key] ?? 0));
  const summary: Record<string, string> = { ...extra };
  if (added.dataFiles > 0) {
    summary['added-data-files'] = String(added.dataFiles);
    summary['added-records'] = String(added.dataRecords);
  }
  if (added.deleteFiles > 0) {
    summary['added-delete-files'] = String(added.deleteFiles);
    summary['added-position-delete-files'] = String(added.deleteFiles);
    summary['added-position-deletes'] = String(added.positionDeletes);
  }
  summary['added-files-size'] = String(added.filesSize);
  summary['changed-partition-count'] = added.dataFiles + added.deleteFiles > 0 ? '1' : '0';
  summary['total-records'] = total('total-records', added.dataRecords);
  summary['total-files-size'] = total('total-files-size', added.filesSize);
  summary['total-data-files'] = total('total-data-files', added.dataFiles);
  summary['total-delete-files'] = total('total-delete-files', added.deleteFiles);
  summary['total-position-deletes'] = total('total-position-deletes', added.positionDeletes);
  summary['total-equality-deletes'] = total('total-equality-deletes', 0);
  return { ...summary, operation };
}

export function serializeTableMetadata(metadata: TableMetadata): string {
  return stringifyJson(metadata, 2);
}

/** Parses a metadata file (ours or another writer's), normalizing snapshot ids to bigint. */
export function parseTableMetadata(text: string, where: string): TableMetadata {
  let raw: Record<string, unknown>;
  try {
    raw = parseJson(text) as Record<string, unknown>;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new TypeError('not an object');
  } catch (error) {
    throw new LakeFormatError('table metadata is not valid JSON', { file: where }, error);
  }
  if (raw['format-version'] !== 2) {
    throw new LakeFormatError(`unsupported table format-version ${String(raw['format-version'])}`, { file: where });
  }
  try {
    const id = (value: unknown): bigint => toBigInt(value, 'snapshot-id');
    const snapshots = (raw.snapshots ?? []) as Record<string, unknown>[];
    const refs = (raw.refs ?? {}) as Record<string, Record<string, unknown>>;
    const current = raw['current-snapshot-id'];
    return {
      ...raw,
      properties: (raw.properties ?? {}) as Record<string, string>,
      'current-snapshot-id': current === undefined || current === null ? -1n : id(current),
      snapshots: snapshots.map((s) => ({
        ...s,
        'snapshot-id': id(s['snapshot-id']),
        ...(s['parent-snapshot-id'] == null ? {} : { 'parent-snapshot-id': id(s['parent-snapshot-id']) }),
      })),
      'snapshot-log': ((raw['snapshot-log'] ?? []) as Record<string, unknown>[]).map((e) => ({
        ...e,
        'snapshot-id': id(e['snapshot-id']),
      })),
      'metadata-log': raw['metadata-log'] ?? [],
      refs: Object.fromEntries(
        Object.entries(refs).map(([k, r]) => [k, { ...r, 'snapshot-id': id(r['snapshot-id']) }]),
      ),
    } as unknown as TableMetadata;
  } catch (error) {
    throw new LakeFormatError('table metadata has malformed snapshot ids', { file: where }, error);
  }
}
