/**
 * Types and values at the engine's edge: the DuckDB type of an Iceberg field (what an empty table's view is typed
 * with, and what describe shows), and result rows turned into JSON-safe values.
 */
import { DuckDBBlobValue, DuckDBTypeId, type DuckDBResultReader } from '@duckdb/node-api';
import type { IcebergType } from '../core/types/iceberg.js';
import type { ResultColumn, ResultValue } from './types.js';

const PRIMITIVES: Readonly<Record<string, string>> = {
  boolean: 'BOOLEAN',
  int: 'INTEGER',
  long: 'BIGINT',
  float: 'FLOAT',
  double: 'DOUBLE',
  date: 'DATE',
  time: 'TIME',
  timestamp: 'TIMESTAMP',
  timestamptz: 'TIMESTAMP WITH TIME ZONE',
  string: 'VARCHAR',
  uuid: 'UUID',
  binary: 'BLOB',
};

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** The DuckDB type DuckDB gives a Parquet column written for this Iceberg type (docs/types.md). */
export function duckdbType(type: IcebergType): string {
  if (typeof type === 'string') {
    const decimal = /^decimal\((\d+),\s*(\d+)\)$/.exec(type);
    if (decimal) return `DECIMAL(${decimal[1]},${decimal[2]})`;
    return PRIMITIVES[type] ?? 'VARCHAR';
  }
  if (type.type === 'list') return `${duckdbType(type.element)}[]`;
  return `STRUCT(${type.fields.map((f) => `${quoteIdent(f.name)} ${duckdbType(f.type)}`).join(', ')})`;
}

/** Iceberg's own type text: `long`, `decimal(12, 2)`, `list<string>`, `struct<a: int>`. */
export function icebergTypeText(type: IcebergType): string {
  if (typeof type === 'string') return type;
  if (type.type === 'list') return `list<${icebergTypeText(type.element)}>`;
  return `struct<${type.fields.map((f) => `${f.name}: ${icebergTypeText(f.type)}`).join(', ')}>`;
}

const WIDE_INTEGERS = new Set([DuckDBTypeId.BIGINT, DuckDBTypeId.UBIGINT, DuckDBTypeId.HUGEINT, DuckDBTypeId.UHUGEINT]);

export interface ReadRows {
  readonly columns: ResultColumn[];
  readonly rows: ResultValue[][];
}

/**
 * The first `max` rows of a result as JSON-safe values: wide integers become numbers when exact, top-level BLOBs
 * base64; everything else keeps DuckDB's JSON form (decimals and timestamps as text).
 */
export function readRows(reader: DuckDBResultReader, max: number): ReadRows {
  const width = reader.columnCount;
  const columns = Array.from({ length: width }, (_, i) => ({
    name: reader.columnName(i),
    type: reader.columnType(i).toString(),
  }));
  const kinds = Array.from({ length: width }, (_, i) => reader.columnTypeId(i));
  const json = reader.getRowsJson().slice(0, max);
  const hasBlob = kinds.includes(DuckDBTypeId.BLOB);
  const raw = hasBlob ? reader.getRows().slice(0, max) : [];
  const rows = json.map((row, r) =>
    row.map((value, i): ResultValue => {
      const kind = kinds[i];
      if (value === null) return null;
      if (kind === DuckDBTypeId.BLOB) {
        const blob = raw[r]?.[i];
        return blob instanceof DuckDBBlobValue ? Buffer.from(blob.bytes).toString('base64') : null;
      }
      if (kind !== undefined && WIDE_INTEGERS.has(kind) && typeof value === 'string') {
        const n = Number(value);
        return Number.isSafeInteger(n) ? n : value;
      }
      return value;
    }),
  );
  return { columns, rows };
}
