/**
 * Column evolution of a replicated table (docs/schema-evolution.md): which columns of a new Relation are which
 * columns of the previous one, and what that does to the Iceberg field ids. Pure: the same previous shape and the
 * same new columns always give the same ids, so a stream that replays the WAL after a crash assigns them again
 * exactly as before.
 */
import { lastColumnId, type IcebergField, type IcebergSchema, type IcebergType } from './iceberg.js';
import { icebergTypeOf, planTable, type ColumnIds, type PlanIds, type TablePlan } from './plan.js';
import type { SourceColumn, SourceTable } from './source.js';

/** The columns a table's rows carry at one point of the stream, and the field ids they have in the lake. */
export interface TableShape {
  readonly source: SourceTable;
  readonly schemaId: number;
  /** Field ids per column, in the order of `source.columns`. */
  readonly ids: readonly ({ readonly name: string } & ColumnIds)[];
  /** Fields kept in the schema that no source column feeds any more (a type change Iceberg cannot promote). */
  readonly retired: readonly IcebergField[];
  /** The highest field id ever assigned in the table: new columns get ids above it, never one used before. */
  readonly lastColumnId: number;
  /** What rows already in the lake hold in the fields this shape introduced (set on the shape of the change). */
  readonly fills?: readonly ColumnFill[];
}

/**
 * The value rows already in the lake get in a field that a schema change introduced: the column's default as
 * PostgreSQL reports it for existing rows (`attmissingval`, text form), or the value of the retired field it
 * replaces, cast to the new type.
 */
export interface ColumnFill {
  readonly fieldId: number;
  readonly default?: string;
  readonly fromFieldId?: number;
}

/** A column as a Relation message describes it. */
export interface RelationColumnLike {
  readonly name: string;
  readonly typeOid: number;
  readonly typmod: number;
}

export type ColumnChange =
  | { readonly kind: 'add'; readonly column: string; readonly fieldId: number }
  | { readonly kind: 'drop'; readonly column: string; readonly fieldId: number }
  | { readonly kind: 'rename'; readonly from: string; readonly to: string; readonly fieldId: number }
  | {
      readonly kind: 'type';
      readonly column: string;
      readonly from: string;
      readonly to: string;
      /** Iceberg promotes it in place (same field id); otherwise the column gets a new id, the old one retires. */
      readonly promoted: boolean;
      readonly fieldId: number;
      readonly retiredAs?: string;
    };

export function planOfShape(shape: TableShape): TablePlan {
  const ids: PlanIds = {
    schemaId: shape.schemaId,
    columns: new Map(shape.ids.map(({ name, ...ids }) => [name, ids])),
    retired: shape.retired,
  };
  return planTable(shape.source, {}, ids);
}

/**
 * The shape of a table whose lake schema is `schema`, with the source's columns matched to its fields by name;
 * undefined when the source's columns are not exactly that schema's (a change the lake has not seen yet).
 */
export function shapeFromLake(
  source: SourceTable,
  schema: IcebergSchema,
  lastColumnId: number,
): TableShape | undefined {
  const byName = new Map(schema.fields.map((f) => [f.name, f]));
  const ids = source.columns.map((column) => {
    const field = byName.get(column.name);
    const elementId =
      field && typeof field.type !== 'string' && field.type.type === 'list' ? field.type['element-id'] : undefined;
    return { name: column.name, fieldId: field?.id ?? -1, ...(elementId === undefined ? {} : { elementId }) };
  });
  if (ids.some((i) => i.fieldId < 0)) return undefined;
  const live = new Set(ids.map((i) => i.fieldId));
  const retired = schema.fields.filter((f) => !live.has(f.id));
  const shape: TableShape = { source, schemaId: schema['schema-id'], ids, retired, lastColumnId };
  const planned = planOfShape(shape).schema;
  return sameFields(planned, schema) ? shape : undefined;
}

/** Whether two schemas have the same fields (ids, names, types, nullability) and identifier fields. */
export function sameFields(a: IcebergSchema, b: IcebergSchema): boolean {
  const text = (s: IcebergSchema): string =>
    JSON.stringify([s.fields.map((f) => [f.id, f.name, f.required, f.type]), s['identifier-field-ids'] ?? []]);
  return text(a) === text(b);
}

/** Whether a Relation lists exactly the shape's columns (names, types and typmods, in order). */
export function sameRelation(shape: TableShape, columns: readonly RelationColumnLike[]): boolean {
  const planned = shape.source.columns;
  return (
    columns.length === planned.length &&
    columns.every(
      (c, i) => c.name === planned[i]!.name && c.typeOid === planned[i]!.typeOid && c.typmod === planned[i]!.typmod,
    )
  );
}

/**
 * For each new column, the index of the previous column it is (undefined: a new column). With `attnums` (the
 * catalog's, trusted only when the catalog shows the same columns as the Relation), columns are matched by attnum,
 * which is exact. Without, one ALTER between two changes is read off the positions: the same names (types may
 * differ); one name different at one place (a rename); one column appended (an add); one column missing (a drop).
 * Anything else is matched by name: a column renamed together with other changes then reads as a drop and an add.
 */
export function matchColumns(
  previous: readonly SourceColumn[],
  next: readonly RelationColumnLike[],
  attnums?: ReadonlyMap<string, number>,
): (number | undefined)[] {
  if (attnums && previous.every((c) => c.attnum > 0)) {
    return next.map((c) => {
      const attnum = attnums.get(c.name);
      const index = previous.findIndex((p) => p.attnum === attnum);
      return index < 0 ? undefined : index;
    });
  }
  const prev = previous.map((c) => c.name);
  const names = next.map((c) => c.name);
  const samePrefix = (length: number): boolean => names.slice(0, length).every((n, i) => n === prev[i]);
  if (names.length === prev.length) {
    const differing = names.flatMap((n, i) => (n === prev[i] ? [] : [i]));
    if (differing.length === 0 || (differing.length === 1 && !prev.includes(names[differing[0]!]!))) {
      return names.map((_, i) => i);
    }
  } else if (names.length === prev.length + 1 && samePrefix(prev.length)) {
    return names.map((_, i) => (i < prev.length ? i : undefined));
  } else if (names.length === prev.length - 1) {
    const gone = prev.findIndex((n, i) => n !== names[i]);
    const rest = prev.filter((_, i) => i !== gone);
    if (rest.every((n, i) => n === names[i])) return names.map((_, i) => (i < gone ? i : i + 1));
  }
  return names.map((n) => {
    const index = prev.indexOf(n);
    return index < 0 ? undefined : index;
  });
}

const DECIMAL = /^decimal\((\d+),\s*(\d+)\)$/;

/**
 * Iceberg's type promotions (spec: "Schema Evolution"): int → long, float → double, a decimal's precision widened
 * at the same scale; a list when its element promotes. Equal types are trivially fine.
 */
export function isPromotion(from: IcebergType, to: IcebergType): boolean {
  if (JSON.stringify(from) === JSON.stringify(to)) return true;
  if (typeof from === 'string' && typeof to === 'string') {
    if (from === 'int' && to === 'long') return true;
    if (from === 'float' && to === 'double') return true;
    const a = DECIMAL.exec(from);
    const b = DECIMAL.exec(to);
    return a !== null && b !== null && a[2] === b[2] && Number(b[1]) >= Number(a[1]);
  }
  if (typeof from !== 'string' && typeof to !== 'string' && from.type === 'list' && to.type === 'list') {
    return isPromotion(from.element, to.element);
  }
  return false;
}

const typeText = (type: IcebergType): string =>
  typeof type === 'string' ? type : type.type === 'list' ? `list<${typeText(type.element)}>` : 'struct';

/** The name a retired column keeps in the schema: `<column>__v<schema id>`, the schema its values were written in. */
export const retiredName = (column: string, schemaId: number): string => `${column}__v${schemaId}`;

/**
 * The next shape: `next` (the new Relation's columns, types resolved) matched to the previous shape's columns.
 * A matched column keeps its field id when its Iceberg type is the same or a promotion of the old one; any other
 * type change gives it a new id, and the old field stays in the schema as `<column>__v<previous schema id>`.
 * Unmatched columns get new ids above every id used before. Undefined changes: nothing to evolve.
 */
export function evolveShape(
  previous: TableShape,
  next: SourceTable,
  matches: readonly (number | undefined)[],
  /** Added columns' values for the rows that existed before (PostgreSQL's `attmissingval`), by name. */
  defaults: ReadonlyMap<string, string> = new Map(),
): { shape: TableShape; changes: ColumnChange[] } {
  const fills: ColumnFill[] = [];
  const keys = new Set(next.primaryKey);
  const previousKeys = new Set(previous.source.primaryKey);
  let last = previous.lastColumnId;
  const changes: ColumnChange[] = [];
  const retired = [...previous.retired];
  const fresh = (type: IcebergType): ColumnIds => {
    const fieldId = ++last;
    return typeof type !== 'string' && type.type === 'list' ? { fieldId, elementId: ++last } : { fieldId };
  };
  const ids = next.columns.map((column, index) => {
    const type = icebergTypeOf(column, keys.has(column.name));
    const from = matches[index];
    if (from === undefined) {
      const assigned = fresh(type);
      changes.push({ kind: 'add', column: column.name, fieldId: assigned.fieldId });
      const value = defaults.get(column.name);
      if (value !== undefined) fills.push({ fieldId: assigned.fieldId, default: value });
      return { name: column.name, ...assigned };
    }
    const old = previous.source.columns[from]!;
    const { name: _name, ...oldIds } = previous.ids[from]!;
    if (old.name !== column.name)
      changes.push({ kind: 'rename', from: old.name, to: column.name, fieldId: oldIds.fieldId });
    const oldType = icebergTypeOf(old, previousKeys.has(old.name));
    if (old.typeOid === column.typeOid && old.typmod === column.typmod && isPromotion(oldType, type)) {
      return { name: column.name, ...oldIds };
    }
    if (isPromotion(oldType, type)) {
      changes.push({
        kind: 'type',
        column: column.name,
        from: old.formatType,
        to: column.formatType,
        promoted: true,
        fieldId: oldIds.fieldId,
      });
      return { name: column.name, ...oldIds };
    }
    const retiredAs = retiredName(old.name, previous.schemaId);
    retired.push({
      id: oldIds.fieldId,
      name: retiredAs,
      required: false,
      type: oldType,
      doc: `${old.formatType}, retired`,
    });
    const assigned = fresh(type);
    changes.push({
      kind: 'type',
      column: column.name,
      from: `${old.formatType} (${typeText(oldType)})`,
      to: `${column.formatType} (${typeText(type)})`,
      promoted: false,
      fieldId: assigned.fieldId,
      retiredAs,
    });
    fills.push({ fieldId: assigned.fieldId, fromFieldId: oldIds.fieldId });
    return { name: column.name, ...assigned };
  });
  const kept = new Set(matches.filter((m): m is number => m !== undefined));
  previous.source.columns.forEach((column, index) => {
    if (!kept.has(index)) changes.push({ kind: 'drop', column: column.name, fieldId: previous.ids[index]!.fieldId });
  });
  if (changes.length === 0) return { shape: previous, changes };
  const shape: TableShape = {
    source: next,
    schemaId: previous.schemaId + 1,
    ids,
    retired,
    lastColumnId: last,
    ...(fills.length > 0 ? { fills } : {}),
  };
  return { shape, changes };
}

/** Additions only keep every reader's query working; a drop, a rename or a type change can break one. */
export const isBreaking = (changes: readonly ColumnChange[]): boolean =>
  changes.some((c) => c.kind !== 'add' && !(c.kind === 'type' && c.promoted));

/** The shape of a table planned fresh (as `pg-cdc init` plans it): field ids 1..n, schema 0. */
export function freshShape(source: SourceTable): TableShape {
  const schema = planTable(source).schema;
  return shapeFromLake(source, schema, lastColumnId(schema))!;
}
