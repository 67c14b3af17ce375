import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import { newTableMetadata } from '../../lake/iceberg/metadata.js';
import { withSchema } from '../../lake/iceberg/schema.js';
import { lastSchemaChange } from '../../api/service/freshness.js';

const v0: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  'identifier-field-ids': [1],
  fields: [
    { id: 1, name: 'id', required: true, type: 'int' },
    { id: 2, name: 'qty', required: false, type: 'int' },
    { id: 3, name: 'secret', required: false, type: 'string' },
  ],
};
const evolved = (fields: IcebergSchema['fields']) => {
  const metadata = withSchema(newTableMetadata({ location: 'file:///lake/t', schema: v0 }), { ...v0, fields });
  return { metadata, id: metadata['current-schema-id'] };
};

describe('get_freshness: the last schema change of a table', () => {
  it('is null for a table with one schema', () => {
    const metadata = newTableMetadata({ location: 'file:///lake/t', schema: v0 });
    assert.equal(lastSchemaChange(metadata, 0, ['id', 'qty', 'secret']), null);
  });

  it('calls an added column or a widening schema_change', () => {
    const { metadata, id } = evolved([
      ...v0.fields.slice(0, 1),
      { ...v0.fields[1]!, type: 'long' },
      v0.fields[2]!,
      {
        id: 4,
        name: 'color',
        required: false,
        type: 'string',
      },
    ]);
    const change = lastSchemaChange(metadata, id, ['id', 'qty', 'secret', 'color'])!;
    assert.equal(change.classification, 'schema_change');
    assert.deepEqual(change.added_columns, ['color']);
    assert.deepEqual(change.type_changes, [{ name: 'qty', from: 'int', to: 'long', widening: true }]);
  });

  it('calls a rename or a drop breaking, and names a dropped column only to a caller who sees every column', () => {
    const { metadata, id } = evolved([v0.fields[0]!, { ...v0.fields[1]!, name: 'quantity' }]);
    const full = lastSchemaChange(metadata, id, ['id', 'quantity'])!;
    assert.equal(full.classification, 'breaking');
    assert.deepEqual(full.renamed_columns, [{ from: 'qty', to: 'quantity' }]);
    assert.deepEqual(full.removed_columns, ['secret']);
    const partial = lastSchemaChange(metadata, id, ['id'])!;
    assert.equal(partial, null, 'nothing the caller sees changed');
  });
});
