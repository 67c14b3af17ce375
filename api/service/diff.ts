import type { IcebergField, IcebergSchema } from '../../core/types/iceberg.js';
import { classifyColumns, worstClass, type DiffClass } from '../../lake/contract/index.js';
import type { ManifestTable } from '../../lake/manifest.js';
import type { DiffWire, TableDiffWire } from '../schemas/outputs.js';
import type { LakeView } from './lake-view.js';
import type { ResolvedRef } from './refs.js';
import type { VisibleSet } from './visibility.js';

/**
 * The contract diff between two refs, as the principal sees it (the columns it may read at each side), classified
 * by the promotion gate's classifier (lake/contract/diff.ts); a table that appeared is a schema_change, one that
 * disappeared is breaking. promote_safe is false exactly when the change is breaking (promotion then needs --force).
 */
export interface DiffSide {
  readonly at: ResolvedRef;
  readonly visible: VisibleSet;
  /** The policy version in force at this side, when known. */
  readonly policyVersion: number | null;
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

const side = (table: ManifestTable, fields: Map<number, IcebergField>) => ({ fields, primaryKey: table.primary_key });

async function diffTable(lake: LakeView, name: string, from: DiffSide, to: DiffSide): Promise<TableDiffWire | null> {
  const a = from.visible.tables.has(name) ? from.at.manifest.tables[name] : undefined;
  const b = to.visible.tables.has(name) ? to.at.manifest.tables[name] : undefined;
  if (!a && !b) return null;
  const before = a
    ? await visibleFields(lake, a, from.visible.tables.get(name) ?? [])
    : new Map<number, IcebergField>();
  const after = b ? await visibleFields(lake, b, to.visible.tables.get(name) ?? []) : new Map<number, IcebergField>();
  const columns = a && b ? classifyColumns(side(a, before), side(b, after)) : undefined;
  const result: TableDiffWire = {
    table: name,
    change: !a ? 'added' : !b ? 'removed' : 'unchanged',
    classification: !a ? 'schema_change' : !b ? 'breaking' : 'safe',
    added_columns: columns?.added_columns ?? [],
    removed_columns: columns?.removed_columns ?? [],
    type_changes: columns?.type_changes ?? [],
    renamed_columns: columns?.renamed_columns ?? [],
    primary_key_changed: columns?.primary_key_changed ?? false,
    epochs: { from: a?.epoch ?? null, to: b?.epoch ?? null },
    row_count: { from: a?.row_count ?? null, to: b?.row_count ?? null },
  };
  if (!a || !b || !columns) return result;
  const classification = columns.classification;
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
  for (const table of tables) classification = worstClass(classification, table.classification);
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
