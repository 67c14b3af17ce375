import type { Column } from '@aws-sdk/client-glue';
import type { IcebergField, IcebergSchema, IcebergType } from '../../core/types/index.js';

/**
 * Glue columns from an Iceberg schema, with the type strings Hive, Athena and Spark parse, as Iceberg's own
 * IcebergToGlueConverter writes them (its `iceberg.field.*` parameters included, so that a reader of the Glue
 * table finds each column's field id). Types without a Hive equivalent are written as Iceberg's converter writes
 * them: `time` and `uuid` as string, `timestamptz` as timestamp.
 */
export function glueColumns(schema: IcebergSchema): Column[] {
  return schema.fields.map((field) => ({
    Name: field.name,
    Type: hiveType(field.type),
    ...(field.doc === undefined ? {} : { Comment: field.doc }),
    Parameters: {
      'iceberg.field.id': String(field.id),
      'iceberg.field.optional': String(!field.required),
      'iceberg.field.current': 'true',
    },
  }));
}

export function hiveType(type: IcebergType): string {
  if (typeof type !== 'string') {
    if (type.type === 'list') return `array<${hiveType(type.element)}>`;
    return `struct<${type.fields.map((field: IcebergField) => `${field.name}:${hiveType(field.type)}`).join(',')}>`;
  }
  if (type.startsWith('decimal(')) return type.replace(/\s+/g, '');
  return HIVE_NAMES[type] ?? type;
}

/** The Iceberg primitives whose Hive name differs; the others (boolean, int, float, double, date, ...) are equal. */
const HIVE_NAMES: Readonly<Record<string, string>> = {
  long: 'bigint',
  timestamptz: 'timestamp',
  time: 'string',
  uuid: 'string',
};
