import type { IcebergSchema } from '../../core/types/iceberg.js';
import type { TableMetadata } from '../../lake/iceberg/metadata.js';
import type { FreshnessInput } from '../schemas/inputs.js';
import type { FreshnessWire, TableFreshnessWire } from '../schemas/outputs.js';
import { isWidening, typeText } from '../../lake/contract/index.js';
import type { LakeView, ManifestAt } from './lake-view.js';
import { visibleEntries } from './manifest.js';
import { tableNotFound } from './not-found.js';
import type { VisibleSet } from './visibility.js';

/**
 * Freshness from the lake alone, so the answer needs no production credential: the manifest is rewritten with
 * every committed epoch, so its age says how long ago the pipeline last moved the lake forward. Past
 * `max_lag_seconds` the lake is stale: the stream worker is stopped or falling behind (an idle source keeps the
 * manifest moving through the worker's heartbeats).
 */
export interface FreshnessOptions {
  /** flush.interval_sec: the expected rhythm of commits. */
  readonly flushIntervalSec: number;
  readonly now: Date;
}

/** Three flush intervals, and never under a minute: one late flush is not staleness. */
export const defaultMaxLag = (flushIntervalSec: number): number => Math.max(60, 3 * flushIntervalSec);

const seconds = (ms: number): number => Math.max(0, Math.round(ms) / 1000);

/**
 * The current schema against the one before it, by field id, in the columns visible to the caller (`visible`:
 * names in the current schema).
 */
export function lastSchemaChange(
  metadata: TableMetadata,
  schemaId: number,
  visible: readonly string[],
): TableFreshnessWire['last_schema_change'] {
  const current = metadata.schemas.find((s) => s['schema-id'] === schemaId);
  const earlier = metadata.schemas.filter((s) => s['schema-id'] < schemaId);
  const previous: IcebergSchema | undefined = earlier.sort((a, b) => b['schema-id'] - a['schema-id'])[0];
  if (!current || !previous) return null;
  const shown = new Set(visible);
  const after = new Map(current.fields.filter((f) => shown.has(f.name)).map((f) => [f.id, f]));
  const before = new Map(previous.fields.map((f) => [f.id, f]));
  const added = [...after.values()].filter((f) => !before.has(f.id)).map((f) => f.name);
  // A dropped column is named only to a caller who sees every column: its name may be one the caller never saw.
  const seesAll = current.fields.every((f) => shown.has(f.name));
  const gone = [...before.values()].filter((f) => !current.fields.some((c) => c.id === f.id));
  const removed = seesAll ? gone.map((f) => f.name) : [];
  const renamed = [...after.values()].flatMap((f) => {
    const was = before.get(f.id);
    return was && was.name !== f.name ? [{ from: was.name, to: f.name }] : [];
  });
  const typeChanges = [...after.values()].flatMap((f) => {
    const was = before.get(f.id);
    const [from, to] = [was ? typeText(was.type) : '', typeText(f.type)];
    return was && from !== to ? [{ name: f.name, from, to, widening: isWidening(from, to) }] : [];
  });
  if (added.length + removed.length + renamed.length + typeChanges.length === 0) return null;
  const breaking = removed.length > 0 || renamed.length > 0 || typeChanges.some((t) => !t.widening);
  return {
    from_schema_id: previous['schema-id'],
    schema_id: schemaId,
    classification: breaking ? 'breaking' : 'schema_change',
    added_columns: added,
    removed_columns: removed,
    renamed_columns: renamed,
    type_changes: typeChanges,
  };
}

export async function freshness(
  lake: LakeView,
  at: ManifestAt,
  visible: VisibleSet,
  input: FreshnessInput,
  options: FreshnessOptions,
): Promise<FreshnessWire> {
  const now = options.now.getTime();
  let entries = visibleEntries(at.manifest, visible);
  if (input.table !== undefined) {
    entries = entries.filter(([identifier]) => identifier === input.table);
    if (entries.length === 0) throw tableNotFound(input.table);
  }
  const tables = await Promise.all(
    entries.map(async ([identifier, table, columns]): Promise<TableFreshnessWire> => {
      const refs = [table.state, ...(table.changes ? [table.changes] : [])];
      const times = await Promise.all(
        refs.map(async (ref) => {
          if (ref.snapshot_id === null) return undefined;
          const metadata = await lake.metadataAt(ref.metadata_location);
          const snapshot = metadata.snapshots.find((s) => String(s['snapshot-id']) === ref.snapshot_id);
          return snapshot?.['timestamp-ms'];
        }),
      );
      const last = Math.max(...times.filter((t): t is number => t !== undefined));
      const known = Number.isFinite(last);
      return {
        table: identifier,
        epoch: table.epoch,
        committed_lsn: table.committed_lsn,
        last_commit_at: known ? new Date(last).toISOString() : null,
        seconds_since_commit: known ? seconds(now - last) : null,
        schema_version: table.schema_version,
        schema_id: table.state.schema_id,
        last_schema_change: lastSchemaChange(
          await lake.metadataAt(table.state.metadata_location),
          table.state.schema_id,
          columns,
        ),
      };
    }),
  );
  const maxLag = input.max_lag_seconds ?? defaultMaxLag(options.flushIntervalSec);
  const lag = seconds(now - Date.parse(at.manifest.updated_at));
  return {
    checked_at: options.now.toISOString(),
    manifest_version: at.version,
    manifest_updated_at: at.manifest.updated_at,
    lag_seconds: lag,
    max_lag_seconds: maxLag,
    is_stale: lag > maxLag,
    policy_version: visible.policyVersion,
    tables,
  };
}
