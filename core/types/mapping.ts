/**
 * How one PostgreSQL value, in its text form under SOURCE_SESSION_SETTINGS, becomes one Iceberg value in DuckDB.
 * Every source type maps to a csvType (what read_csv parses the text as) and a conversion (a DuckDB expression
 * over that). Conversions exist only where PostgreSQL's text needs help: special values DuckDB would misread or
 * Iceberg cannot hold. Each such case is named in `lossy` and in docs/types.md.
 */
import type { IcebergPrimitive } from './iceberg.js';
import type { SourceType } from './source.js';

export interface PlanOptions {
  /** numeric without a precision (or wider than 38 digits): only 'string', its exact text, for now. */
  readonly unconstrainedNumeric?: 'string';
}

export interface ScalarMapping {
  readonly iceberg: IcebergPrimitive;
  readonly csvType: string;
  /** DuckDB expression for the final value, given `value`: an expression of type csvType. */
  readonly convert: (value: string) => string;
  readonly lossy?: string;
  /** The conversion turns some non-NULL values into NULL, so the Iceberg field must be optional. */
  readonly nullable?: boolean;
}

/** A double-quoted identifier; PostgreSQL and DuckDB share the syntax. */
export const quoteIdentifier = (name: string): string => `"${name.replace(/"/g, '""')}"`;
/** A single-quoted string literal (DuckDB has no backslash escapes in these). */
export const quoteString = (text: string): string => `'${text.replace(/'/g, "''")}'`;

const identity = (value: string): string => value;
/** Strings hold the value's PostgreSQL text form unchanged. */
export const TEXT_FORM: ScalarMapping = { iceberg: 'string', csvType: 'VARCHAR', convert: identity };
const direct = (iceberg: IcebergPrimitive, csvType: string): ScalarMapping => ({ iceberg, csvType, convert: identity });

// Sentinels for ±infinity: the extremes that every reader's datetime type holds (Python's datetime included), and
// that still sort above and below ordinary values.
export const INFINITY_SENTINELS = {
  date: { positive: '9999-12-31', negative: '0001-01-01' },
  timestamp: { positive: '9999-12-31 23:59:59.999999', negative: '0001-01-01 00:00:00' },
  timestamptz: { positive: '9999-12-31 23:59:59.999999+00', negative: '0001-01-01 00:00:00+00' },
} as const;

// PostgreSQL writes BC after the value (`0044-03-15 10:00:00+00 BC`); DuckDB silently reads a trailing BC as AD for
// dates and wants `(BC)` right after the date part.
const withEra = (value: string): string =>
  `CASE WHEN suffix(${value}, ' BC') THEN regexp_replace(${value}, '^([0-9]+-[0-9]+-[0-9]+)(.*) BC$', '\\1 (BC)\\2') ELSE ${value} END`;

function datetime(kind: 'date' | 'timestamp' | 'timestamptz'): ScalarMapping {
  const duckType = { date: 'DATE', timestamp: 'TIMESTAMP', timestamptz: 'TIMESTAMPTZ' }[kind];
  const { positive, negative } = INFINITY_SENTINELS[kind];
  return {
    iceberg: kind,
    csvType: 'VARCHAR',
    convert: (value) =>
      `CASE ${value} WHEN 'infinity' THEN ${duckType} '${positive}' WHEN '-infinity' THEN ${duckType} '${negative}' ` +
      `ELSE CAST(${withEra(value)} AS ${duckType}) END`,
    lossy: `${kind} infinity becomes ${positive}, -infinity becomes ${negative}`,
  };
}

const TIME: ScalarMapping = {
  iceberg: 'time',
  csvType: 'VARCHAR',
  convert: (value) => `CASE ${value} WHEN '24:00:00' THEN TIME '23:59:59.999999' ELSE CAST(${value} AS TIME) END`,
  lossy: 'time 24:00:00 becomes 23:59:59.999999',
};

/** numeric's typmod: ((precision << 16) | (scale & 0x7ff)) + 4, the scale an 11-bit signed number since PG 15. */
export function numericTypmod(typmod: number): { precision: number; scale: number } | undefined {
  if (typmod < 4) return undefined;
  const packed = typmod - 4;
  return { precision: (packed >> 16) & 0xffff, scale: ((packed & 0x7ff) ^ 1024) - 1024 };
}

/**
 * numeric(p,s) → decimal. Negative scales (PG 15: numeric(5,-2) rounds to hundreds) widen to decimal(p-s, 0); a
 * scale above the precision (numeric(3,5) holds 0.00xyz) widens to decimal(s, s). None of NaN/±Infinity fit a
 * decimal: they become NULL, or in a primary key column stop the write with an error naming the column.
 */
function numeric(type: SourceType, keyColumn: string | undefined): ScalarMapping | undefined {
  const declared = numericTypmod(type.typmod);
  if (!declared) return undefined;
  const scale = Math.max(declared.scale, 0);
  const precision = Math.max(declared.precision - Math.min(declared.scale, 0), scale);
  if (precision > 38) return undefined;
  const column = keyColumn === undefined ? '' : quoteString(keyColumn);
  const special = (value: string): string =>
    keyColumn === undefined
      ? 'NULL'
      : `error('numeric ' || ${value} || ' in primary key column ' || ${column} || ' has no decimal form')`;
  return {
    iceberg: `decimal(${precision}, ${scale})`,
    csvType: 'VARCHAR',
    convert: (value) =>
      `CASE WHEN ${value} IN ('NaN', 'Infinity', '-Infinity') THEN ${special(value)} ` +
      `ELSE CAST(${value} AS DECIMAL(${precision},${scale})) END`,
    lossy: keyColumn ? 'numeric NaN/Infinity in the primary key fails the write' : 'numeric NaN/±Infinity become NULL',
    nullable: !keyColumn,
  };
}

const BUILTIN: Readonly<Record<string, ScalarMapping>> = {
  int2: direct('int', 'INTEGER'),
  int4: direct('int', 'INTEGER'),
  int8: direct('long', 'BIGINT'),
  float4: direct('float', 'FLOAT'),
  float8: direct('double', 'DOUBLE'),
  bool: direct('boolean', 'BOOLEAN'),
  uuid: direct('uuid', 'UUID'),
  // bytea_output=hex: `\x00ff`.
  bytea: { iceberg: 'binary', csvType: 'VARCHAR', convert: (value) => `unhex(substr(${value}, 3))` },
  date: datetime('date'),
  timestamp: datetime('timestamp'),
  timestamptz: datetime('timestamptz'),
  time: TIME,
};

/**
 * The mapping of a non-array type. `keyColumn` names the column when it is part of the primary key, where a value
 * may not silently become NULL. Everything not listed (text, varchar, bpchar, name, citext, enums, json, jsonb,
 * interval, timetz, inet, money, ranges, composites, unknown extension types ...) is a string: its text form.
 */
export function mapScalar(type: SourceType, options: PlanOptions = {}, keyColumn?: string): ScalarMapping {
  if (type.isEnum || type.schema !== 'pg_catalog') return TEXT_FORM;
  if (type.name === 'numeric') {
    // Only 'string' exists today; the option is the place a lossy numeric choice (double, decimal(38,s)) would go.
    void options.unconstrainedNumeric;
    return numeric(type, keyColumn) ?? TEXT_FORM;
  }
  return BUILTIN[type.name] ?? TEXT_FORM;
}

/** A DuckDB expression converting one JSON-array element (VARCHAR, the element's text form) by `mapping`. */
export function elementConversion(mapping: ScalarMapping, element: string): string {
  return mapping.convert(mapping.csvType === 'VARCHAR' ? element : `CAST(${element} AS ${mapping.csvType})`);
}
