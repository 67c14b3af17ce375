import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import avro from 'avsc';
import {
  decodeManifest,
  decodeManifestList,
  encodeManifest,
  encodeManifestList,
  type ManifestEntryRecord,
  type ManifestFileRecord,
} from '../../lake/iceberg/avro.js';
import { readAvroContainer, writeAvroContainer } from '../../lake/iceberg/avro-container.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';

const schema: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  fields: [
    { id: 1, name: 'id', required: true, type: 'long' },
    {
      id: 2,
      name: 'tags',
      required: false,
      type: { type: 'list', 'element-id': 3, element: 'int', 'element-required': false },
    },
  ],
};
const snapshotId = 9069070424146742760n;

const entry: ManifestEntryRecord = {
  status: 1,
  snapshot_id: snapshotId,
  sequence_number: 7n,
  file_sequence_number: 7n,
  data_file: {
    content: 0,
    file_path: 'file:///lake/public/orders/data/a.parquet',
    file_format: 'PARQUET',
    partition: {},
    record_count: 42n,
    file_size_in_bytes: 1234n,
    column_sizes: [{ key: 1, value: 100n }],
    value_counts: [{ key: 1, value: 42n }],
    null_value_counts: [{ key: 1, value: 0n }],
    nan_value_counts: [],
    lower_bounds: [{ key: 1, value: Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]) }],
    upper_bounds: [{ key: 1, value: Buffer.from([42, 0, 0, 0, 0, 0, 0, 0]) }],
    key_metadata: null,
    split_offsets: [4n],
    equality_ids: null,
    sort_order_id: null,
  },
};

/** Reads the container with avsc's own decoder (records left encoded: its default longs refuse 63-bit ids). */
async function readWithAvsc(
  bytes: Uint8Array,
): Promise<{ header: Record<string, string>; schema: unknown; count: number }> {
  const decoder = new avro.streams.BlockDecoder({ noDecode: true });
  const meta = new Promise<Record<string, string>>((resolve) =>
    decoder.once('metadata', (_type: unknown, _codec: string, header: { meta: Record<string, Buffer> }) =>
      resolve(Object.fromEntries(Object.entries(header.meta).map(([k, v]) => [k, v.toString('utf8')]))),
    ),
  );
  let count = 0;
  decoder.on('data', () => count++);
  const done = new Promise((resolve, reject) => decoder.on('end', resolve).on('error', reject));
  Readable.from([Buffer.from(bytes)]).pipe(decoder);
  await done;
  const header = await meta;
  return { header, schema: JSON.parse(header['avro.schema']!), count };
}

/** field id → field name for every record field in an Avro schema, nested ones included. */
function fieldIds(schema: unknown, out = new Map<number, string>()): Map<number, string> {
  if (Array.isArray(schema)) schema.forEach((s) => fieldIds(s, out));
  else if (schema && typeof schema === 'object') {
    const node = schema as Record<string, unknown>;
    if (Array.isArray(node.fields)) {
      for (const field of node.fields as Record<string, unknown>[]) {
        assert.equal(typeof field['field-id'], 'number', `field ${String(field.name)} has a field-id`);
        out.set(field['field-id'] as number, field.name as string);
        fieldIds(field.type, out);
      }
    }
    if (node.items) fieldIds(node.items, out);
  }
  return out;
}

describe('Iceberg manifests as Avro', () => {
  it('manifest: round-trips, with the v2 field ids and header keys the spec requires', async () => {
    const bytes = encodeManifest({ schema, content: 'data', entries: [entry] });
    assert.deepEqual(decodeManifest(bytes), [entry]);

    const { header, schema: avroSchema, count } = await readWithAvsc(bytes);
    assert.equal(count, 1);
    assert.deepEqual(JSON.parse(header.schema!), schema);
    assert.equal(header['schema-id'], '0');
    assert.equal(header['partition-spec'], '[]');
    assert.equal(header['partition-spec-id'], '0');
    assert.equal(header['format-version'], '2');
    assert.equal(header.content, 'data');
    const ids = fieldIds(avroSchema);
    const expected: Record<number, string> = {
      0: 'status',
      1: 'snapshot_id',
      3: 'sequence_number',
      4: 'file_sequence_number',
      2: 'data_file',
      134: 'content',
      100: 'file_path',
      101: 'file_format',
      102: 'partition',
      103: 'record_count',
      104: 'file_size_in_bytes',
      108: 'column_sizes',
      109: 'value_counts',
      110: 'null_value_counts',
      137: 'nan_value_counts',
      125: 'lower_bounds',
      128: 'upper_bounds',
      131: 'key_metadata',
      132: 'split_offsets',
      135: 'equality_ids',
      140: 'sort_order_id',
      117: 'key',
      118: 'value',
      126: 'key',
      127: 'value',
    };
    for (const [id, name] of Object.entries(expected)) assert.equal(ids.get(Number(id)), name, `field-id ${id}`);
    const dataFile = (avroSchema as { fields: { name: string; type: { name: string; fields: unknown[] } }[] })
      .fields[4]!.type;
    assert.equal(dataFile.name, 'r2');
    const columnSizes = (dataFile.fields as { name: string; type: unknown }[]).find((f) => f.name === 'column_sizes')!;
    assert.deepEqual((columnSizes.type as unknown[])[0], 'null', 'optional fields are ["null", T] unions');
    assert.equal((columnSizes.type as Record<string, unknown>[])[1]!.logicalType, 'map');
  });

  it('manifest list: round-trips 63-bit snapshot ids, with field ids 500-519', async () => {
    const manifest: ManifestFileRecord = {
      manifest_path: 'file:///lake/public/orders/metadata/m0.avro',
      manifest_length: 3068n,
      partition_spec_id: 0,
      content: 0,
      sequence_number: 7n,
      min_sequence_number: 7n,
      added_snapshot_id: snapshotId,
      added_files_count: 1,
      existing_files_count: 0,
      deleted_files_count: 0,
      added_rows_count: 42n,
      existing_rows_count: 0n,
      deleted_rows_count: 0n,
      partitions: [],
      key_metadata: null,
    };
    const bytes = encodeManifestList({
      snapshotId,
      parentSnapshotId: undefined,
      sequenceNumber: 7,
      manifests: [manifest],
    });
    assert.deepEqual(decodeManifestList(bytes), [manifest]);
    const { header, schema: avroSchema } = await readWithAvsc(bytes);
    assert.equal(header['snapshot-id'], String(snapshotId));
    assert.equal(header['parent-snapshot-id'], 'null');
    assert.equal(header['sequence-number'], '7');
    assert.equal(header['format-version'], '2');
    const ids = fieldIds(avroSchema);
    for (const [id, name] of [
      [500, 'manifest_path'],
      [501, 'manifest_length'],
      [502, 'partition_spec_id'],
      [517, 'content'],
      [515, 'sequence_number'],
      [516, 'min_sequence_number'],
      [503, 'added_snapshot_id'],
      [504, 'added_files_count'],
      [505, 'existing_files_count'],
      [506, 'deleted_files_count'],
      [512, 'added_rows_count'],
      [513, 'existing_rows_count'],
      [514, 'deleted_rows_count'],
      [507, 'partitions'],
      [509, 'contains_null'],
    ] as const) {
      assert.equal(ids.get(id), name, `field-id ${id}`);
    }
  });
});

describe('Avro containers from writers with different schemas', () => {
  const reader = {
    type: 'record',
    name: 'r',
    fields: [
      { name: 'id', type: 'long' },
      { name: 'note', type: ['null', 'string'], default: null },
    ],
  } as const;
  const older = { type: 'record', name: 'r', fields: [{ name: 'id', type: 'long' }] } as const;
  const newer = {
    type: 'record',
    name: 'r',
    fields: [
      { name: 'id', type: 'long' },
      { name: 'note', type: ['null', 'string'] },
      { name: 'extra', type: 'int' },
    ],
  } as const;

  it('reads each file by its own writer schema, however often and in whatever order they come', () => {
    const fromOlder = writeAvroContainer(older as never, [{ id: 1n }], {});
    const fromNewer = writeAvroContainer(newer as never, [{ id: 2n, note: 'hi', extra: 7 }], {});
    for (let round = 0; round < 3; round++) {
      assert.deepEqual(readAvroContainer(fromOlder, reader as never).records, [{ id: 1n, note: null }]);
      assert.deepEqual(readAvroContainer(fromNewer, reader as never).records, [{ id: 2n, note: 'hi' }]);
      assert.deepEqual(readAvroContainer(fromNewer).records, [{ id: 2n, note: 'hi', extra: 7 }]);
      assert.deepEqual(readAvroContainer(fromOlder).schema, older);
    }
  });
});
