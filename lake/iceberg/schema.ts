import { isPromotion } from '../../core/types/evolution.js';
import { lastColumnId, type IcebergField, type IcebergSchema, type IcebergType } from '../../core/types/iceberg.js';
import { LakeFormatError } from '../errors.js';
import type { TableMetadata } from './metadata.js';

/** Every field id a schema uses (top level and nested) with its type. */
function fieldTypes(fields: readonly IcebergField[], into = new Map<number, IcebergType>()): Map<number, IcebergType> {
  for (const field of fields) {
    into.set(field.id, field.type);
    const type = field.type;
    if (typeof type === 'string') continue;
    if (type.type === 'list') into.set(type['element-id'], type.element);
    else fieldTypes(type.fields, into);
  }
  return into;
}

/**
 * The metadata with `schema` added as a new schema and made current (spec: "Schema Evolution"): it gets the next
 * schema id, `last-column-id` covers its ids, and earlier schemas stay, so files written under them keep theirs.
 * A field id the table used before must keep its type or a promotion of it: an id is never given to another
 * column. Files are not touched: readers map their columns by field id.
 */
export function withSchema(metadata: TableMetadata, schema: IcebergSchema): TableMetadata {
  const known = new Map<number, IcebergType>();
  for (const earlier of metadata.schemas) fieldTypes(earlier.fields, known);
  for (const [id, type] of fieldTypes(schema.fields)) {
    const before = known.get(id);
    if (before !== undefined && !isPromotion(before, type)) {
      throw new LakeFormatError(
        `field id ${id} would change type from ${JSON.stringify(before)} to ${JSON.stringify(type)}`,
        {
          table: metadata.location,
          field: id,
        },
      );
    }
  }
  const schemaId = Math.max(...metadata.schemas.map((s) => s['schema-id'])) + 1;
  return {
    ...metadata,
    schemas: [...metadata.schemas, { ...schema, 'schema-id': schemaId }],
    'current-schema-id': schemaId,
    'last-column-id': Math.max(metadata['last-column-id'], lastColumnId(schema)),
  };
}
