/**
 * Iceberg table schemas as the spec's JSON form (Appendix C), which is also what metadata.json stores. The type
 * mapping builds them and the lake's Iceberg writer persists them; they live here, with the mapping, because core/
 * imports nothing outside itself and the lake may import core/.
 */
export type IcebergPrimitive =
  | 'boolean'
  | 'int'
  | 'long'
  | 'float'
  | 'double'
  | `decimal(${number}, ${number})`
  | 'date'
  | 'time'
  | 'timestamp'
  | 'timestamptz'
  | 'string'
  | 'uuid'
  | 'binary';

export interface IcebergListType {
  readonly type: 'list';
  readonly 'element-id': number;
  readonly element: IcebergType;
  readonly 'element-required': boolean;
}

export interface IcebergStructType {
  readonly type: 'struct';
  readonly fields: readonly IcebergField[];
}

export type IcebergType = IcebergPrimitive | IcebergListType | IcebergStructType;

export interface IcebergField {
  readonly id: number;
  readonly name: string;
  readonly required: boolean;
  readonly type: IcebergType;
  readonly doc?: string;
}

export interface IcebergSchema {
  readonly type: 'struct';
  readonly 'schema-id': number;
  readonly 'identifier-field-ids'?: readonly number[];
  readonly fields: readonly IcebergField[];
}

/** The highest field id used anywhere in a schema, nested ids included: new columns get ids above it. */
export function lastColumnId(schema: { readonly fields: readonly IcebergField[] }): number {
  const maxOf = (type: IcebergType): number => {
    if (typeof type === 'string') return 0;
    if (type.type === 'list') return Math.max(type['element-id'], maxOf(type.element));
    return Math.max(0, ...type.fields.map((field) => Math.max(field.id, maxOf(field.type))));
  };
  return Math.max(0, ...schema.fields.map((field) => Math.max(field.id, maxOf(field.type))));
}
