import { isChangelogIdentifier, stateIdentifierOf, visibleChangelogColumns } from '../../lake/contract/index.js';
import { currentSchema, currentSnapshot } from '../../lake/iceberg/metadata.js';
import { loadTableMetadata } from '../../lake/iceberg/table.js';
import type { CatalogWire, StatusWire } from '../schemas/console.js';
import { typeText } from '../../lake/contract/index.js';
import type { LakeView, ManifestAt } from './lake-view.js';
import { visibleEntries } from './manifest.js';
import type { VisibleSet } from './visibility.js';

/**
 * The console's views of the lake: what `pg-cdc status` shows of it, and the catalog with each table's schema,
 * both cut to what the principal may see.
 */
export interface ServeInfo {
  readonly version: string;
  readonly startedAt: Date;
  readonly now: Date;
  readonly maxLagSeconds: number;
}

export function lakeStatus(
  lake: LakeView,
  latest: ManifestAt | undefined,
  visible: VisibleSet,
  principal: string,
  info: ServeInfo,
): StatusWire {
  const manifest = latest?.manifest;
  const lag = manifest ? Math.max(0, info.now.getTime() - Date.parse(manifest.updated_at)) / 1000 : null;
  return {
    principal,
    serve: {
      version: info.version,
      started_at: info.startedAt.toISOString(),
      uptime_seconds: Math.round(info.now.getTime() - info.startedAt.getTime()) / 1000,
    },
    lake: {
      location: lake.location,
      snapshotted: manifest !== undefined,
      manifest_version: latest?.version ?? null,
      updated_at: manifest?.updated_at ?? null,
      consistent_point_lsn: manifest?.source.consistent_point_lsn ?? null,
      slot: manifest?.source.slot ?? null,
      publication: manifest?.source.publication ?? null,
      tables: manifest
        ? visibleEntries(manifest, visible).map(([table, entry]) => ({
            table,
            row_count: entry.row_count,
            snapshot_id: entry.state.snapshot_id,
            committed_lsn: entry.committed_lsn,
            epoch: entry.epoch,
            schema_version: entry.schema_version,
          }))
        : [],
    },
    freshness: {
      lag_seconds: lag,
      max_lag_seconds: info.maxLagSeconds,
      is_stale: lag === null ? null : lag > info.maxLagSeconds,
    },
    policy_version: visible.policyVersion,
  };
}

export async function lakeCatalog(lake: LakeView, visible: VisibleSet, catalogType: string): Promise<CatalogWire> {
  const identifiers = (await lake.catalog.listTables()).filter((id) => visible.tables.has(stateIdentifierOf(id)));
  const loaded = await Promise.all(identifiers.map((id) => loadTableMetadata(lake.store, lake.catalog, id)));
  const columnsOf = new Map(loaded.map((t) => [t.identifier, currentSchema(t.metadata).fields.map((f) => f.name)]));
  const tables = loaded.map(({ identifier, metadata, metadataLocation }) => {
    const schema = currentSchema(metadata);
    const snapshot = currentSnapshot(metadata);
    const changelog = isChangelogIdentifier(identifier);
    const state = stateIdentifierOf(identifier);
    const source = new Set(visible.tables.get(state) ?? []);
    const names = schema.fields.map((f) => f.name);
    const shown = new Set(
      changelog ? visibleChangelogColumns(names, source, columnsOf.get(state)) : names.filter((n) => source.has(n)),
    );
    return {
      identifier,
      kind: changelog ? ('changes' as const) : ('state' as const),
      location: metadata.location,
      metadata_location: metadataLocation,
      format_version: metadata['format-version'],
      current_snapshot_id: snapshot ? String(snapshot['snapshot-id']) : null,
      snapshot_count: metadata.snapshots.length,
      schema_id: schema['schema-id'],
      last_updated_at: new Date(metadata['last-updated-ms']).toISOString(),
      columns: schema.fields
        .filter((f) => shown.has(f.name))
        .map((f) => ({ field_id: f.id, name: f.name, type: typeText(f.type), required: f.required })),
    };
  });
  return { catalog: { type: catalogType, warehouse: lake.location }, tables };
}
