import type { LakeTableShape } from '../../governance/types.js';
import type { ManifestTable, PgCdcManifest } from '../../lake/manifest.js';
import type { ManifestWire } from '../schemas/outputs.js';
import type { ManifestAt } from './lake-view.js';
import type { Visibility, VisibleSet } from './visibility.js';

/** The state tables of a manifest as governance sees them: identifier and column names. */
export function shapesOf(manifest: PgCdcManifest): LakeTableShape[] {
  return Object.entries(manifest.tables).map(([identifier, table]) => ({ identifier, columns: table.columns }));
}

export function decideOn(visibility: Visibility, principal: string, manifest: PgCdcManifest): Promise<VisibleSet> {
  return visibility.decide(principal, shapesOf(manifest));
}

/** The manifest entries the principal may see, columns (and key columns) cut to the visible ones. */
export function visibleEntries(manifest: PgCdcManifest, visible: VisibleSet): [string, ManifestTable, string[]][] {
  return Object.entries(manifest.tables)
    .filter(([identifier]) => visible.tables.has(identifier))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([identifier, table]) => [identifier, table, [...(visible.tables.get(identifier) ?? [])]]);
}

/**
 * The manifest as a principal sees it. The source host is left out: a reader of the lake has no use for where
 * production lives. `policy_version` is the one the visible surface was decided at.
 */
export function manifestWire(at: ManifestAt, visible: VisibleSet): ManifestWire {
  const { manifest } = at;
  const tables: ManifestWire['tables'] = {};
  for (const [identifier, table, columns] of visibleEntries(manifest, visible)) {
    const shown = new Set(columns);
    tables[identifier] = {
      snapshot_id: table.state.snapshot_id,
      schema_id: table.state.schema_id,
      metadata_location: table.state.metadata_location,
      changes: table.changes
        ? {
            snapshot_id: table.changes.snapshot_id,
            schema_id: table.changes.schema_id,
            metadata_location: table.changes.metadata_location,
          }
        : null,
      columns,
      primary_key: table.primary_key.filter((c) => shown.has(c)),
      row_count: table.row_count,
      epoch: table.epoch,
      committed_lsn: table.committed_lsn,
      schema_version: table.schema_version,
      dropped_at: table.dropped_at ?? null,
    };
  }
  return {
    version: at.version,
    updated_at: manifest.updated_at,
    source: {
      database: manifest.source.database,
      slot: manifest.source.slot,
      publication: manifest.source.publication,
      consistent_point_lsn: manifest.source.consistent_point_lsn ?? null,
    },
    policy_version: visible.policyVersion,
    tables,
  };
}
