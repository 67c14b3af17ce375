/**
 * planTable: a source table's columns → the Iceberg schema, plus the SQL on both sides of the CSV that carries the
 * rows: the PostgreSQL select list that writes each column's text, and the DuckDB read_csv types, select list and
 * FIELD_IDS that turn that text into typed Parquet. Pure: the same table always gives the same plan.
 */
import { PgCdcError } from '../errors/index.js';
import type { IcebergField, IcebergSchema, IcebergType } from './iceberg.js';
import { elementConversion, mapScalar, quoteIdentifier, quoteString, TEXT_FORM, type PlanOptions } from './mapping.js';
import type { SourceColumn, SourceTable, SourceType } from './source.js';

export type DuckDBFieldIds = number | { readonly __duckdb_field_id: number; readonly element: number };

export interface ColumnPlan {
  readonly name: string;
  readonly fieldId: number;
  readonly required: boolean;
  readonly iceberg: IcebergType;
  /** format_type text, for docs and status. */
  readonly sourceType: string;
  /** PostgreSQL select-list item over the quoted column. */
  readonly sourceExpression: string;
  /** The column's name in read_csv: `c<fieldId>`, so names DuckDB would fold together never meet there. */
  readonly csvName: string;
  readonly csvType: string;
  /** DuckDB expression over the quoted csvName giving the final value. */
  readonly duckdbExpression: string;
  /**
   * How the value travels in the CSV: its PostgreSQL text form, or (one-dimensional arrays) the JSON array of its
   * elements' text forms. The snapshot's select list does that conversion in PostgreSQL; a stream does it itself.
   */
  readonly wireForm: 'text' | 'json-array';
  /** The same conversion over any DuckDB expression holding this column's text, e.g. another CSV column. */
  convert(text: string): string;
  /** The column's name in the Parquet file: the source name, unless DuckDB would see it as a duplicate. */
  readonly parquetName: string;
  readonly duckdbFieldIds: DuckDBFieldIds;
  readonly lossy?: string;
}

export interface TablePlan {
  readonly columns: readonly ColumnPlan[];
  readonly schema: IcebergSchema;
  /** Why the schema has no identifier-field-ids although the table has a primary key. */
  readonly identifierNote?: string;
  selectList(): string;
  csvColumns(): Record<string, string>;
  duckdbSelect(): string;
  fieldIds(): string;
}

/** The table cannot be represented in Iceberg at all. */
export class TypeMappingError extends PgCdcError {
  constructor(message: string, options: { table: string; hint: string }) {
    super('TYPE_MAPPING', message, { context: { table: options.table }, hint: options.hint });
  }
}

interface Shape {
  readonly iceberg: (elementId: () => number) => IcebergType;
  readonly sourceExpression: string;
  readonly csvType: string;
  readonly duckdbExpression: string;
  readonly lossy?: string;
  readonly nullable?: boolean;
}

// Arrays travel as a JSON array of the elements' text forms (`col::text[]` formats each element with its own output
// function, so element text equals scalar text). PostgreSQL does not enforce dimensions: a multi-dimensional value in
// a column declared one-dimensional is flattened in row-major order so that it still fits list<element>.
function arrayShape(column: SourceColumn, csv: string, element: SourceType, options: PlanOptions): Shape {
  const col = quoteIdentifier(column.name);
  const mapping = element.element ? TEXT_FORM : mapScalar(element, options);
  const converted = elementConversion(mapping, 'e');
  const list = `from_json(${csv}, '["VARCHAR"]')`;
  const flat = `CASE WHEN array_ndims(${col}) > 1 THEN ARRAY(SELECT unnest(${col})) ELSE ${col} END`;
  const lossy = ['array lower bounds are dropped, multi-dimensional values flattened', mapping.lossy];
  return {
    iceberg: (elementId) => ({
      type: 'list',
      'element-id': elementId(),
      element: mapping.iceberg,
      'element-required': false,
    }),
    sourceExpression: `to_jsonb((${flat})::text[])::text`,
    csvType: 'VARCHAR',
    duckdbExpression: converted === 'e' ? list : `list_transform(${list}, lambda e: ${converted})`,
    lossy: lossy.filter(Boolean).join('; '),
  };
}

function shapeOf(column: SourceColumn, csv: string, options: PlanOptions, inKey: boolean): Shape {
  const { element } = column.type;
  if (element && column.dimensions <= 1) return arrayShape(column, csv, element, options);
  // Declared multi-dimensional arrays keep PostgreSQL's text form (`{{1,2},{3,4}}`): one nesting depth cannot be
  // promised for every row, and the text keeps shape and bounds exactly.
  const mapping = element ? TEXT_FORM : mapScalar(column.type, options, inKey ? column.name : undefined);
  return {
    iceberg: () => mapping.iceberg,
    sourceExpression: quoteIdentifier(column.name),
    csvType: mapping.csvType,
    duckdbExpression: mapping.convert(csv),
    ...(mapping.lossy ? { lossy: mapping.lossy } : {}),
    ...(mapping.nullable ? { nullable: true } : {}),
  };
}

/**
 * The Parquet column names of a table's columns: each source name, with `__<n>` appended to one that DuckDB would
 * see as a duplicate of an earlier one (it folds case). Readers name the columns of every file this way too.
 */
export function uniqueParquetNames(names: readonly string[]): string[] {
  const taken = new Set<string>();
  return names.map((name, index) => {
    let candidate = name;
    for (let n = index + 1; taken.has(candidate.toLowerCase()); n += 1) candidate = `${name}__${n}`;
    taken.add(candidate.toLowerCase());
    return candidate;
  });
}

function renderFieldIds(value: DuckDBFieldIds): string {
  if (typeof value === 'number') return String(value);
  return `{__duckdb_field_id: ${value.__duckdb_field_id}, element: ${value.element}}`;
}

/** The Iceberg field ids of one column: the column's own and, for a list, its element's. */
export interface ColumnIds {
  readonly fieldId: number;
  readonly elementId?: number;
}

/**
 * Field ids decided elsewhere (schema evolution, core/types/evolution.ts): per column name, plus the schema's id
 * and the fields it keeps that no source column feeds any more (a column retired by a type change).
 */
export interface PlanIds {
  readonly schemaId: number;
  readonly columns: ReadonlyMap<string, ColumnIds>;
  readonly retired: readonly IcebergField[];
}

/** The Iceberg type a source column maps to (list element ids left at 0: only the type's shape counts here). */
export function icebergTypeOf(column: SourceColumn, inKey: boolean, options: PlanOptions = {}): IcebergType {
  return shapeOf(column, 'v', options, inKey).iceberg(() => 0);
}

/**
 * Plans a table. Without `ids`, a fresh table: field ids 1..n in attnum order, list element ids after n,
 * schema-id 0. With `ids`, the ids (and schema id) an evolved schema gave its columns.
 */
export function planTable(table: SourceTable, options: PlanOptions = {}, ids?: PlanIds): TablePlan {
  const qualified = `${table.schema}.${table.name}`;
  if (table.columns.length === 0) {
    throw new TypeMappingError(`table ${qualified} has no columns`, {
      table: qualified,
      hint: 'add a column or exclude the table: an Iceberg table and a Parquet file need at least one column',
    });
  }
  const keys = new Set(table.primaryKey);
  let nextNestedId = table.columns.length;
  const parquetNames = uniqueParquetNames(table.columns.map((c) => c.name));
  const columns = table.columns.map((column, index): ColumnPlan => {
    const assigned = ids?.columns.get(column.name);
    if (ids && !assigned) {
      throw new TypeMappingError(`column ${column.name} of ${qualified} has no field id`, {
        table: qualified,
        hint: 'the schema evolution that introduced it did not assign one; this is a bug, please report it',
      });
    }
    const fieldId = assigned?.fieldId ?? index + 1;
    const csvName = `c${fieldId}`;
    const shape = shapeOf(column, quoteIdentifier(csvName), options, keys.has(column.name));
    let elementId: number | undefined;
    const iceberg = shape.iceberg(() => (elementId = assigned ? (assigned.elementId ?? 0) : ++nextNestedId));
    return {
      name: column.name,
      fieldId,
      required: column.notNull && !shape.nullable,
      iceberg,
      sourceType: column.formatType,
      sourceExpression: shape.sourceExpression,
      csvName,
      csvType: shape.csvType,
      duckdbExpression: shape.duckdbExpression,
      wireForm: column.type.element && column.dimensions <= 1 ? 'json-array' : 'text',
      convert: (text) => shapeOf(column, text, options, keys.has(column.name)).duckdbExpression,
      parquetName: parquetNames[index] ?? column.name,
      duckdbFieldIds: elementId === undefined ? fieldId : { __duckdb_field_id: fieldId, element: elementId },
      ...(shape.lossy ? { lossy: shape.lossy } : {}),
    };
  });
  return buildPlan(table, columns, ids);
}

function identifiers(table: SourceTable, columns: readonly ColumnPlan[]): { ids?: number[]; note?: string } {
  if (table.primaryKey.length === 0) return {};
  const byName = new Map(columns.map((c) => [c.name, c]));
  const key = table.primaryKey.map((name) => byName.get(name));
  const unfit = key.find(
    (c) => !c || !c.required || typeof c.iceberg !== 'string' || /^(float|double)$/.test(c.iceberg),
  );
  if (unfit !== undefined || key.some((c) => c === undefined)) {
    const which = unfit?.name ?? table.primaryKey.join(', ');
    return { note: `primary key column ${which} cannot be an Iceberg identifier field (optional, float or nested)` };
  }
  return { ids: key.map((c) => c!.fieldId) };
}

function buildPlan(table: SourceTable, columns: readonly ColumnPlan[], ids: PlanIds | undefined): TablePlan {
  const fields = columns.map((c, index): IcebergField => {
    const domainOf = table.columns[index]?.type.domain ? ` (domain over ${table.columns[index]?.type.name})` : '';
    return { id: c.fieldId, name: c.name, required: c.required, type: c.iceberg, doc: `${c.sourceType}${domainOf}` };
  });
  const { ids: identifierIds, note } = identifiers(table, columns);
  const schema: IcebergSchema = {
    type: 'struct',
    'schema-id': ids?.schemaId ?? 0,
    ...(identifierIds ? { 'identifier-field-ids': identifierIds } : {}),
    fields: [...fields, ...(ids?.retired ?? [])],
  };
  return {
    columns,
    schema,
    ...(note ? { identifierNote: note } : {}),
    selectList: () => columns.map((c) => c.sourceExpression).join(', '),
    csvColumns: () => Object.fromEntries(columns.map((c) => [c.csvName, c.csvType])),
    duckdbSelect: () => columns.map((c) => `${c.duckdbExpression} AS ${quoteIdentifier(c.parquetName)}`).join(', '),
    fieldIds: () =>
      `{${columns.map((c) => `${quoteString(c.parquetName)}: ${renderFieldIds(c.duckdbFieldIds)}`).join(', ')}}`,
  };
}
