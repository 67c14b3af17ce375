import type { Schema } from 'avsc';
import { stringifyJson } from '../json.js';
import { readAvroContainer, writeAvroContainer } from './avro-container.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';

/**
 * Iceberg v2 manifests and manifest lists as Avro, with the field ids the spec assigns ("Manifests", "Manifest
 * Lists"). Readers match these columns by `field-id`, maps with int keys are arrays of key/value records marked
 * `logicalType: map` (Avro maps only have string keys), and optional fields are `["null", T]` with a null
 * default. Record names (r2, r102, r508, k117_v118 ...) follow the Java implementation, which other readers'
 * Avro name resolution expects.
 */

type AvroField = Record<string, unknown>;
const required = (name: string, id: number, type: unknown): AvroField => ({ name, 'field-id': id, type });
const optional = (name: string, id: number, type: unknown): AvroField => ({
  name,
  'field-id': id,
  type: ['null', type],
  default: null,
});
const intMap = (keyId: number, valueId: number, valueType: string): unknown => ({
  type: 'array',
  logicalType: 'map',
  items: {
    type: 'record',
    name: `k${keyId}_v${valueId}`,
    fields: [
      { name: 'key', type: 'int', 'field-id': keyId },
      { name: 'value', type: valueType, 'field-id': valueId },
    ],
  },
});
const list = (elementId: number, items: unknown): unknown => ({ type: 'array', 'element-id': elementId, items });

/** data_file (field 2) for an unpartitioned table: its partition tuple (field 102) is an empty record. */
const DATA_FILE = {
  type: 'record',
  name: 'r2',
  fields: [
    required('content', 134, 'int'),
    required('file_path', 100, 'string'),
    required('file_format', 101, 'string'),
    required('partition', 102, { type: 'record', name: 'r102', fields: [] }),
    required('record_count', 103, 'long'),
    required('file_size_in_bytes', 104, 'long'),
    optional('column_sizes', 108, intMap(117, 118, 'long')),
    optional('value_counts', 109, intMap(119, 120, 'long')),
    optional('null_value_counts', 110, intMap(121, 122, 'long')),
    optional('nan_value_counts', 137, intMap(138, 139, 'long')),
    optional('lower_bounds', 125, intMap(126, 127, 'bytes')),
    optional('upper_bounds', 128, intMap(129, 130, 'bytes')),
    optional('key_metadata', 131, 'bytes'),
    optional('split_offsets', 132, list(133, 'long')),
    optional('equality_ids', 135, list(136, 'int')),
    optional('sort_order_id', 140, 'int'),
  ],
};

export const MANIFEST_ENTRY_SCHEMA = {
  type: 'record',
  name: 'manifest_entry',
  fields: [
    required('status', 0, 'int'),
    optional('snapshot_id', 1, 'long'),
    optional('sequence_number', 3, 'long'),
    optional('file_sequence_number', 4, 'long'),
    required('data_file', 2, DATA_FILE),
  ],
} as unknown as Schema;

const FIELD_SUMMARY = {
  type: 'record',
  name: 'r508',
  fields: [
    required('contains_null', 509, 'boolean'),
    optional('contains_nan', 518, 'boolean'),
    optional('lower_bound', 510, 'bytes'),
    optional('upper_bound', 511, 'bytes'),
  ],
};

export const MANIFEST_FILE_SCHEMA = {
  type: 'record',
  name: 'manifest_file',
  fields: [
    required('manifest_path', 500, 'string'),
    required('manifest_length', 501, 'long'),
    required('partition_spec_id', 502, 'int'),
    required('content', 517, 'int'),
    required('sequence_number', 515, 'long'),
    required('min_sequence_number', 516, 'long'),
    required('added_snapshot_id', 503, 'long'),
    required('added_files_count', 504, 'int'),
    required('existing_files_count', 505, 'int'),
    required('deleted_files_count', 506, 'int'),
    required('added_rows_count', 512, 'long'),
    required('existing_rows_count', 513, 'long'),
    required('deleted_rows_count', 514, 'long'),
    optional('partitions', 507, list(508, FIELD_SUMMARY)),
    optional('key_metadata', 519, 'bytes'),
  ],
} as unknown as Schema;

type Long = bigint | number;
export interface IntMapEntry<V> {
  key: number;
  value: V;
}

/** Field names are the spec's, so records go to and from avsc unchanged. Decoded longs are bigint. */
export interface DataFileRecord {
  content: number;
  file_path: string;
  file_format: string;
  partition: Record<string, never>;
  record_count: Long;
  file_size_in_bytes: Long;
  column_sizes: IntMapEntry<Long>[] | null;
  value_counts: IntMapEntry<Long>[] | null;
  null_value_counts: IntMapEntry<Long>[] | null;
  nan_value_counts: IntMapEntry<Long>[] | null;
  lower_bounds: IntMapEntry<Uint8Array>[] | null;
  upper_bounds: IntMapEntry<Uint8Array>[] | null;
  key_metadata: Uint8Array | null;
  split_offsets: Long[] | null;
  equality_ids: number[] | null;
  sort_order_id: number | null;
}

/** status: 0 EXISTING, 1 ADDED, 2 DELETED. */
export interface ManifestEntryRecord {
  status: 0 | 1 | 2;
  snapshot_id: Long | null;
  sequence_number: Long | null;
  file_sequence_number: Long | null;
  data_file: DataFileRecord;
}

export interface ManifestFileRecord {
  manifest_path: string;
  manifest_length: Long;
  partition_spec_id: number;
  /** 0 data, 1 deletes. */
  content: number;
  sequence_number: Long;
  min_sequence_number: Long;
  added_snapshot_id: Long;
  added_files_count: number;
  existing_files_count: number;
  deleted_files_count: number;
  added_rows_count: Long;
  existing_rows_count: Long;
  deleted_rows_count: Long;
  partitions:
    | {
        contains_null: boolean;
        contains_nan: boolean | null;
        lower_bound: Uint8Array | null;
        upper_bound: Uint8Array | null;
      }[]
    | null;
  key_metadata: Uint8Array | null;
}

export interface ManifestInput {
  /** The table schema the files were written with; readers take column names and types from it. */
  readonly schema: IcebergSchema;
  readonly content: 'data' | 'deletes';
  readonly entries: readonly ManifestEntryRecord[];
}

/** A manifest file: the key/value header entries are the ones the spec requires for v2. */
export function encodeManifest(input: ManifestInput): Uint8Array {
  return writeAvroContainer(MANIFEST_ENTRY_SCHEMA, input.entries, {
    schema: stringifyJson(input.schema),
    'schema-id': String(input.schema['schema-id']),
    'partition-spec': '[]',
    'partition-spec-id': '0',
    'format-version': '2',
    content: input.content,
  });
}

export function decodeManifest(bytes: Uint8Array): ManifestEntryRecord[] {
  return readAvroContainer(bytes, MANIFEST_ENTRY_SCHEMA).records as ManifestEntryRecord[];
}

export interface ManifestListInput {
  readonly snapshotId: bigint;
  readonly parentSnapshotId: bigint | undefined;
  readonly sequenceNumber: number;
  readonly manifests: readonly ManifestFileRecord[];
}

export function encodeManifestList(input: ManifestListInput): Uint8Array {
  return writeAvroContainer(MANIFEST_FILE_SCHEMA, input.manifests, {
    'snapshot-id': String(input.snapshotId),
    'parent-snapshot-id': input.parentSnapshotId === undefined ? 'null' : String(input.parentSnapshotId),
    'sequence-number': String(input.sequenceNumber),
    'format-version': '2',
  });
}

export function decodeManifestList(bytes: Uint8Array): ManifestFileRecord[] {
  return readAvroContainer(bytes, MANIFEST_FILE_SCHEMA).records as ManifestFileRecord[];
}
