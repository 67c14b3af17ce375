import type { IcebergSchema, IcebergType } from '../../core/types/iceberg.js';
import type { ChangeCodec } from './types.js';

/**
 * A row's identity as one locator key, computed in DuckDB from typed values: the same expression runs over the
 * converted stream values and over rows read back from Parquet, so `'1.50'` and `'1.5'` in a numeric(10,2) key, or
 * the same instant written with two offsets, are one identity. The key is a pure function of the values: it must
 * not change with session settings (TimeZone), because the locator outlives the session that wrote it.
 *
 * - a primary key of one int/long column: the number itself (a compact integer key);
 * - any other primary key: the canonical text of each column, as a JSON array when there are several;
 * - 'full-row' identity: the md5 of that JSON array, so a key stays short however wide the row is.
 */
export type KeyKind = 'integer' | 'text';

export interface IdentityKey {
  readonly kind: KeyKind;
  /** DuckDB expression of the key over the identity columns, each given by `column(fieldId)`. */
  sql(column: (fieldId: number) => string): string;
  /** Changes when the key's definition changes: a locator built under another one is rebuilt. */
  readonly signature: string;
}

const KEY_FORMAT = 1;

/** The DuckDB type that holds values of an Iceberg type, as the Parquet writer writes them. */
export function duckdbType(type: IcebergType): string {
  if (typeof type !== 'string') {
    if (type.type === 'list') return `${duckdbType(type.element)}[]`;
    const fields = type.fields.map((f) => `"${f.name.replace(/"/g, '""')}" ${duckdbType(f.type)}`);
    return `STRUCT(${fields.join(', ')})`;
  }
  const decimal = /^decimal\((\d+),\s*(\d+)\)$/.exec(type);
  if (decimal) return `DECIMAL(${decimal[1]}, ${decimal[2]})`;
  const simple: Record<string, string> = {
    boolean: 'BOOLEAN',
    int: 'INTEGER',
    long: 'BIGINT',
    float: 'FLOAT',
    double: 'DOUBLE',
    date: 'DATE',
    time: 'TIME',
    timestamp: 'TIMESTAMP',
    timestamptz: 'TIMESTAMPTZ',
    string: 'VARCHAR',
    uuid: 'UUID',
    binary: 'BLOB',
  };
  return simple[type] ?? 'VARCHAR';
}

/** Canonical text of a typed value: casts whose output depends on no setting (instants as epoch microseconds). */
function canonicalText(value: string, type: IcebergType): string {
  if (typeof type !== 'string') {
    if (type.type === 'list') {
      return `CAST(to_json(list_transform(${value}, lambda e: ${canonicalText('e', type.element)})) AS VARCHAR)`;
    }
    return `CAST(to_json(${value}) AS VARCHAR)`;
  }
  const typed = `CAST(${value} AS ${duckdbType(type)})`;
  if (type === 'timestamptz') return `CAST(epoch_us(${typed}) AS VARCHAR)`;
  if (type === 'binary') return `hex(${typed})`;
  return `CAST(${typed} AS VARCHAR)`;
}

export function identityKey(schema: IcebergSchema, codec: ChangeCodec): IdentityKey {
  const types = codec.identity.map((id) => {
    const field = schema.fields.find((f) => f.id === id);
    if (!field) throw new RangeError(`identity field ${id} is not in the table schema`);
    return field.type;
  });
  const signature = JSON.stringify({ v: KEY_FORMAT, kind: codec.identityKind, ids: codec.identity, types });
  const only = types[0];
  if (codec.identityKind === 'primary-key' && types.length === 1 && (only === 'int' || only === 'long')) {
    return { kind: 'integer', signature, sql: (column) => `CAST(${column(codec.identity[0]!)} AS BIGINT)` };
  }
  const parts = (column: (fieldId: number) => string): string[] =>
    codec.identity.map((id, index) => canonicalText(column(id), types[index]!));
  if (codec.identityKind === 'primary-key') {
    return {
      kind: 'text',
      signature,
      sql: (column) => {
        const texts = parts(column);
        return texts.length === 1 ? texts[0]! : `CAST(to_json([${texts.join(', ')}]) AS VARCHAR)`;
      },
    };
  }
  return {
    kind: 'text',
    signature,
    sql: (column) => `md5(CAST(to_json([${parts(column).join(', ')}]) AS VARCHAR))`,
  };
}
