import type { PgCdcConfig } from '../core/config/index.js';
import { openLake } from '../lake/open.js';
import { readPublication, readTablePrivileges } from '../source/catalog.js';
import { withSource, type SourceSettings } from '../source/connection.js';
import { readSlotPosition } from '../source/slot-position.js';
import type { DiscoveryResult } from '../source/discover.js';

/**
 * `pg-cdc discover --dry-run`: what `init` (or, on a lake that exists, the next run) would change on the source
 * and in the lake for the tables the configuration selects, read without changing anything.
 */
export interface DiscoverPlan {
  readonly publication: {
    readonly name: string;
    readonly exists: boolean;
    /** Selected tables the publication does not hold yet. */
    readonly missing: readonly string[];
    /** How many tables it publishes that the configuration does not select ('all' for FOR ALL TABLES). */
    readonly unselected: number | 'all';
  };
  readonly slot: { readonly name: string; readonly exists: boolean };
  readonly lake: {
    readonly snapshotted: boolean;
    /** Selected tables with no table in the lake: `init` (or a late-table snapshot) would copy them. */
    readonly to_snapshot: readonly string[];
    /** Tables in the lake that the configuration no longer selects; their data stays. */
    readonly not_selected: readonly string[];
  };
}

export async function planDiscovery(
  config: PgCdcConfig,
  settings: SourceSettings,
  discovery: DiscoveryResult,
): Promise<DiscoverPlan> {
  const { publication, slot } = config.replication;
  const selected = discovery.selected.map((d) => d.table);
  const names = new Map(discovery.selected.map((d) => [d.table.oid, d.qualifiedName] as const));
  const source = await withSource(settings, async (client) => {
    const pub = await readPublication(client, publication);
    const privileges = await readTablePrivileges(
      client,
      selected.map((t) => t.oid),
      publication,
    );
    const { slot: found } = await readSlotPosition(client, slot);
    return { pub, privileges, slotExists: found !== undefined };
  });
  const published = source.privileges.filter((p) => p.published).length;
  const missing = source.pub?.puballtables
    ? []
    : source.privileges.filter((p) => !p.published).map((p) => names.get(p.oid) ?? String(p.oid));
  const manifest = (await openLake(config).manifest.read())?.value;
  const inLake = new Set(Object.keys(manifest?.tables ?? {}));
  const wanted = new Set(names.values());
  return {
    publication: {
      name: publication,
      exists: source.pub !== undefined,
      missing: source.pub ? missing.sort() : [...wanted].sort(),
      unselected: source.pub?.puballtables ? 'all' : Math.max(0, (source.pub?.tables ?? 0) - published),
    },
    slot: { name: slot, exists: source.slotExists },
    lake: {
      snapshotted: manifest !== undefined,
      to_snapshot: [...wanted].filter((t) => !inLake.has(t)).sort(),
      not_selected: [...inLake].filter((t) => !wanted.has(t)).sort(),
    },
  };
}

export function formatDiscoverPlan(plan: DiscoverPlan): string {
  const { publication, slot, lake } = plan;
  const lines = ['dry run: nothing was changed'];
  if (!publication.exists) {
    lines.push(`  publication ${publication.name}: would be created for ${publication.missing.length} table(s)`);
  } else if (publication.missing.length === 0 && publication.unselected === 0) {
    lines.push(`  publication ${publication.name}: matches the selection`);
  } else {
    const parts = [
      publication.missing.length ? `lacks ${publication.missing.join(', ')}` : '',
      publication.unselected ? `also publishes ${publication.unselected} table(s) not selected` : '',
    ].filter(Boolean);
    lines.push(`  publication ${publication.name}: ${parts.join('; ')}`);
  }
  lines.push(`  slot ${slot.name}: ${slot.exists ? 'exists' : 'would be created'}`);
  if (lake.to_snapshot.length) lines.push(`  would snapshot: ${lake.to_snapshot.join(', ')}`);
  else lines.push('  would snapshot: nothing (every selected table is in the lake)');
  if (lake.not_selected.length) {
    lines.push(`  in the lake but no longer selected (kept): ${lake.not_selected.join(', ')}`);
  }
  return lines.join('\n');
}
