import type { Catalog } from '../catalog/index.js';
import { changelogIdentifier, summaryEpoch } from '../contract/index.js';
import { TableNotFoundError, VersionPrunedError } from '../errors.js';
import { loadTableMetadata } from '../iceberg/table.js';
import type { ManifestStore, PgCdcManifest } from '../manifest.js';
import { firstKept, type VersionPruning } from '../retention.js';
import type { ObjectStore } from '../storage/index.js';

/**
 * Pruning of pg-cdc's manifest (`_pgcdc/manifest`) and of the local catalog (`_catalog`) at each compaction. Both
 * are database-wide, so every table's maintenance prunes them; two at once only race to raise the same floor
 * (lake/versioned.ts). Both keep their newest `compaction.retain_versions` versions and those younger than
 * `compaction.orphan_grace` (lake/retention.ts).
 *
 * A manifest version is also a ref: `v<N>` reads the lake as that version names it, table snapshot by table
 * snapshot. So it stays as long as it can still be read whole: a version that names every table of the lake at an
 * epoch its retained snapshots (the newest `compaction.retain_snapshots`, the current one, every one a branch or
 * tag names) reach back to. Entries only move forward, so those versions are the newest ones, from the first that
 * does onwards. Older versions name at least one expired snapshot, or predate a table of the lake.
 */
export interface VersionsContext {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  readonly manifest: ManifestStore;
}

export interface VersionsPolicy {
  readonly retainVersions: number;
  readonly minAgeMs: number;
  /** The clock (ms since the epoch); tests set it. */
  readonly now?: number;
}

export interface VersionsPruned {
  readonly manifest: VersionPruning;
  /** undefined: the catalog keeps no history of its own in the warehouse (not the local catalog). */
  readonly catalog?: VersionPruning;
}

/**
 * Per table of the lake, the oldest epoch that every part of it (state table, changelog) still has a snapshot of:
 * a manifest entry at this epoch or later names snapshots that can still be read.
 */
async function retainedEpochs(ctx: VersionsContext, manifest: PgCdcManifest): Promise<Map<string, number>> {
  const epochs = new Map<string, number>();
  for (const table of Object.keys(manifest.tables)) {
    let from = 0;
    for (const identifier of [table, changelogIdentifier(table)]) {
      try {
        const { metadata } = await loadTableMetadata(ctx.store, ctx.catalog, identifier);
        const recorded = metadata.snapshots.flatMap((s) => summaryEpoch(s.summary) ?? []);
        if (recorded.length > 0) from = Math.max(from, Math.min(...recorded));
      } catch (error) {
        if (!(error instanceof TableNotFoundError)) throw error;
      }
    }
    epochs.set(table, from);
  }
  return epochs;
}

/** Whether manifest version `version` names every table in `epochs` at its retained epoch or later. */
async function readsWhole(ctx: VersionsContext, epochs: Map<string, number>, version: number): Promise<boolean> {
  let manifest: PgCdcManifest;
  try {
    manifest = await ctx.manifest.readVersion(version);
  } catch (error) {
    // Pruned by another table's maintenance meanwhile: below the floor, kept by nothing.
    if (error instanceof VersionPrunedError) return false;
    throw error;
  }
  return [...epochs].every(([table, epoch]) => (manifest.tables[table]?.epoch ?? -1) >= epoch);
}

export async function pruneLakeVersions(ctx: VersionsContext, policy: VersionsPolicy): Promise<VersionsPruned> {
  const retention = {
    retainLast: policy.retainVersions,
    minAgeMs: policy.minAgeMs,
    ...(policy.now === undefined ? {} : { now: policy.now }),
  };
  const latest = await ctx.manifest.read();
  const epochs = latest ? await retainedEpochs(ctx, latest.value) : new Map<string, number>();
  const manifest = await ctx.manifest.pruneVersions({
    ...retention,
    keepFrom: (from, to) => firstKept(from, to, (version) => readsWhole(ctx, epochs, version)),
  });
  const catalog = await ctx.catalog.pruneVersions?.(retention);
  return { manifest, ...(catalog ? { catalog } : {}) };
}
