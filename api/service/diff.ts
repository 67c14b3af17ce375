import { isPromotion } from '../../core/types/evolution.js';
import type { IcebergField, IcebergPrimitive, IcebergSchema, IcebergType } from '../../core/types/iceberg.js';
import type { ManifestTable } from '../../lake/manifest.js';
import { DIFF_SEVERITY, type DiffClass, type DiffWire, type TableDiffWire } from '../schemas/outputs.js';
import type { LakeView } from './lake-view.js';
import type { ResolvedRef } from './refs.js';
import type { VisibleSet } from './visibility.js';

/**
 * The contract diff between two refs, as the principal sees it (the columns it may read at each side):
 *   safe           only data moved (epochs, rows), or nothing did
 *   schema_change  additive: a table or column appeared, or a column type was widened (int→long, float→double,
 *                  a decimal's precision grew); existing readers keep working
 *   policy_change  the governance policy version differs between the two sides
 *   breaking       a table or column disappeared, a column was renamed or changed type incompatibly, or the
 *                  primary key changed: existing readers break
 * promote_safe is false exactly when the change is breaking (promotion then needs --force).
 */
export interface DiffSide {
  readonly at: ResolvedRef;
  readonly visible: VisibleSet;
  /** The policy version in force at this side, when known. */
  readonly policyVersion: number | null;
}

const worst = (a: DiffClass, b: DiffClass): DiffClass => (DIFF_SEVERITY.indexOf(a) >= DIFF_SEVERITY.indexOf(b) ? a : b);

export function typeText(type: IcebergType): string {
  if (typeof type === 'string') return type;
  if (type.type === 'list') return `list<${typeText(type.element)}>`;
  return `struct<${type.fields.map((f) => `${f.name}: ${typeText(f.type)}`).join(', ')}>`;
}

/** Iceberg's allowed type promotions (core/types/evolution.ts), on type texts: readers of the old type can read the new one. */
export function isWidening(from: string, to: string): boolean {
  return from !== to && isPromotion(from as IcebergPrimitive, to as IcebergPrimitive);
}

async function visibleFields(
  lake: LakeView,
  table: ManifestTable,
  columns: readonly string[],
): Promise<Map<number, IcebergField>> {
  const metadata = await lake.metadataAt(table.state.metadata_location);
  const schema: IcebergSchema | undefined = metadata.schemas.find((s) => s['schema-id'] === table.state.schema_id);
  const shown = new Set(columns);
  return new Map((schema?.fields ?? []).filter((f) => shown.has(f.name)).map((f) => [f.id, f]));
}

async function diffTable(lake: LakeView, name: string, from: DiffSide, to: DiffSide): Promise<TableDiffWire | null> {
  const a = from.visible.tables.has(name) ? from.at.manifest.tables[name] : undefined;
  const b = to.visible.tables.has(name) ? to.at.manifest.tables[name] : undefined;
  if (!a && !b) return null;
  const before = a
    ? await visibleFields(lake, a, from.visible.tables.get(name) ?? [])
    : new Map<number, IcebergField>();
  const after = b ? await visibleFields(lake, b, to.visible.tables.get(name) ?? []) : new Map<number, IcebergField>();
  const typed = (f: IcebergField) => ({ name: f.name, type: typeText(f.type) });
  const result: TableDiffWire = {
    table: name,
    change: !a ? 'added' : !b ? 'removed' : 'unchanged',
    classification: !a ? 'schema_change' : !b ? 'breaking' : 'safe',
    added_columns: a ? [...after].filter(([id]) => !before.has(id)).map(([, f]) => typed(f)) : [],
    removed_columns: b ? [...before].filter(([id]) => !after.has(id)).map(([, f]) => typed(f)) : [],
    type_changes: [],
    renamed_columns: [],
    primary_key_changed: false,
    epochs: { from: a?.epoch ?? null, to: b?.epoch ?? null },
    row_count: { from: a?.row_count ?? null, to: b?.row_count ?? null },
  };
  if (!a || !b) return result;
  let classification: DiffClass = 'safe';
  for (const [id, old] of before) {
    const now = after.get(id);
    if (!now) continue;
    if (old.name !== now.name) result.renamed_columns.push({ field_id: id, from: old.name, to: now.name });
    const [oldType, newType] = [typeText(old.type), typeText(now.type)];
    if (oldType !== newType) {
      const widening = isWidening(oldType, newType);
      result.type_changes.push({ name: now.name, from: oldType, to: newType, widening });
      classification = worst(classification, widening ? 'schema_change' : 'breaking');
    }
  }
  const keyOf = (table: ManifestTable, fields: Map<number, IcebergField>): string => {
    const shown = new Set([...fields.values()].map((f) => f.name));
    return table.primary_key.filter((c) => shown.has(c)).join('\u0000');
  };
  result.primary_key_changed = keyOf(a, before) !== keyOf(b, after);
  if (result.added_columns.length > 0) classification = worst(classification, 'schema_change');
  if (result.removed_columns.length > 0 || result.renamed_columns.length > 0 || result.primary_key_changed) {
    classification = 'breaking';
  }
  const dataMoved = a.epoch !== b.epoch || a.row_count !== b.row_count || a.state.snapshot_id !== b.state.snapshot_id;
  const schemaMoved = classification !== 'safe' || result.type_changes.length > 0;
  return { ...result, classification, change: dataMoved || schemaMoved ? 'changed' : 'unchanged' };
}

export async function contractDiff(lake: LakeView, from: DiffSide, to: DiffSide): Promise<DiffWire> {
  const names = [...new Set([...from.visible.tables.keys(), ...to.visible.tables.keys()])].sort();
  const tables = (await Promise.all(names.map((name) => diffTable(lake, name, from, to)))).filter(
    (t): t is TableDiffWire => t !== null,
  );
  const known = from.policyVersion !== null && to.policyVersion !== null;
  const policyChanged = known ? from.policyVersion !== to.policyVersion : null;
  let classification: DiffClass = policyChanged ? 'policy_change' : 'safe';
  for (const table of tables) classification = worst(classification, table.classification);
  const point = (side: DiffSide) => ({
    ref: side.at.ref,
    manifest_version: side.at.version,
    updated_at: side.at.manifest.updated_at,
  });
  return {
    from: point(from),
    to: point(to),
    classification,
    promote_safe: classification !== 'breaking',
    policy: { from_version: from.policyVersion, to_version: to.policyVersion, changed: policyChanged },
    tables,
  };
}
