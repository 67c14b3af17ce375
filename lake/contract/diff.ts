import { isPromotion } from '../../core/types/evolution.js';
import type { IcebergField, IcebergPrimitive, IcebergType } from '../../core/types/iceberg.js';

/**
 * The contract diff's classes, least to most severe, and the one classifier of a table's columns between two points.
 * `get_diff` (api/service/diff.ts) and the promotion gate (lake/state/promotion.ts) both classify with it, so what
 * a reader is told a promotion would do is what the gate decides on.
 *   safe           only data moved (epochs, rows), or nothing did
 *   schema_change  additive: a column appeared, or a column type was widened (int→long, float→double, a decimal's
 *                  precision grew); existing readers keep working
 *   policy_change  the governance policy version differs between the two sides (decided by the caller)
 *   breaking       a column disappeared, was renamed or changed type incompatibly, or the primary key changed
 */
export const DIFF_CLASSES = ['safe', 'schema_change', 'policy_change', 'breaking'] as const;
export type DiffClass = (typeof DIFF_CLASSES)[number];

export const worstClass = (a: DiffClass, b: DiffClass): DiffClass =>
  DIFF_CLASSES.indexOf(a) >= DIFF_CLASSES.indexOf(b) ? a : b;

export function typeText(type: IcebergType): string {
  if (typeof type === 'string') return type;
  if (type.type === 'list') return `list<${typeText(type.element)}>`;
  return `struct<${type.fields.map((f) => `${f.name}: ${typeText(f.type)}`).join(', ')}>`;
}

/** Iceberg's allowed type promotions (core/types/evolution.ts, the rule schema evolution follows), on type texts. */
export function isWidening(from: string, to: string): boolean {
  return from !== to && isPromotion(from as IcebergPrimitive, to as IcebergPrimitive);
}

export interface TypedColumn {
  readonly name: string;
  readonly type: string;
}

export interface ColumnsDiff {
  readonly classification: DiffClass;
  readonly added_columns: TypedColumn[];
  readonly removed_columns: TypedColumn[];
  readonly type_changes: { name: string; from: string; to: string; widening: boolean }[];
  readonly renamed_columns: { field_id: number; from: string; to: string }[];
  readonly primary_key_changed: boolean;
}

/** One side of a table: its fields by field id (those the caller may see) and its primary key columns in order. */
export interface ColumnsSide {
  readonly fields: ReadonlyMap<number, IcebergField>;
  readonly primaryKey: readonly string[];
}

/** How a table's columns changed from `before` to `after`, fields matched by id. */
export function classifyColumns(before: ColumnsSide, after: ColumnsSide): ColumnsDiff {
  const typed = (f: IcebergField): TypedColumn => ({ name: f.name, type: typeText(f.type) });
  const diff = {
    added_columns: [...after.fields].filter(([id]) => !before.fields.has(id)).map(([, f]) => typed(f)),
    removed_columns: [...before.fields].filter(([id]) => !after.fields.has(id)).map(([, f]) => typed(f)),
    type_changes: [] as ColumnsDiff['type_changes'],
    renamed_columns: [] as ColumnsDiff['renamed_columns'],
  };
  let classification: DiffClass = 'safe';
  for (const [id, old] of before.fields) {
    const now = after.fields.get(id);
    if (!now) continue;
    if (old.name !== now.name) diff.renamed_columns.push({ field_id: id, from: old.name, to: now.name });
    const [oldType, newType] = [typeText(old.type), typeText(now.type)];
    if (oldType !== newType) {
      const widening = isWidening(oldType, newType);
      diff.type_changes.push({ name: now.name, from: oldType, to: newType, widening });
      classification = worstClass(classification, widening ? 'schema_change' : 'breaking');
    }
  }
  const keyOf = (side: ColumnsSide): string => {
    const shown = new Set([...side.fields.values()].map((f) => f.name));
    return side.primaryKey.filter((c) => shown.has(c)).join('\u0000');
  };
  const primaryKeyChanged = keyOf(before) !== keyOf(after);
  if (diff.added_columns.length > 0) classification = worstClass(classification, 'schema_change');
  if (diff.removed_columns.length > 0 || diff.renamed_columns.length > 0 || primaryKeyChanged) {
    classification = 'breaking';
  }
  return { ...diff, classification, primary_key_changed: primaryKeyChanged };
}
