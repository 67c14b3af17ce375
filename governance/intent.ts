/**
 * Intent versus the registry. The lake (pg-cdc's manifest) says which resources exist; `tables.tags` in pg-cdc.yml
 * says which tags tables must carry. The configuration owns the keys it names: a registered table whose value for
 * such a key differs, or that lacks it, has drifted. Keys set with `acl set` that the configuration does not name,
 * and every column tag, belong to the registry alone and are never drift.
 */
import type { PgCdcConfig } from '../core/config/index.js';
import { didYouMean } from '../core/config/index.js';
import { aclDrift, aclDriftHealed } from '../core/metrics/index.js';
import { resolveTags } from '../core/selection/index.js';
import { openLake } from '../lake/open.js';
import { LakeEmptyError, ResourceNotInLakeError } from './errors.js';
import type { Registry } from './registry.js';
import {
  columnResource,
  databaseResource,
  formatResource,
  parseResource,
  splitLakeIdentifier,
  tableResource,
  type Resource,
} from './resource.js';
import type { Change } from './audit.js';
import { normalizeTags, type Tags } from './tags.js';

export interface LakeTableInventory {
  /** `schema.table`. */
  readonly identifier: string;
  readonly schema: string;
  readonly table: string;
  readonly columns: readonly string[];
}

export interface LakeInventory {
  /** The source database: the first part of every resource. */
  readonly database: string;
  readonly location: string;
  readonly tables: readonly LakeTableInventory[];
}

export async function readLakeInventory(config: PgCdcConfig): Promise<LakeInventory | undefined> {
  const lake = openLake(config);
  const location = lake.root ?? lake.location;
  const manifest = (await lake.manifest.read())?.value;
  if (!manifest) return undefined;
  const tables = Object.entries(manifest.tables)
    .flatMap(([identifier, entry]) => {
      const parts = splitLakeIdentifier(identifier);
      return parts ? [{ identifier, ...parts, columns: entry.columns }] : [];
    })
    .sort((a, b) => (a.identifier < b.identifier ? -1 : a.identifier > b.identifier ? 1 : 0));
  return { database: manifest.source.database, location, tables };
}

export async function requireLakeInventory(config: PgCdcConfig): Promise<LakeInventory> {
  const inventory = await readLakeInventory(config);
  if (!inventory || inventory.tables.length === 0) throw new LakeEmptyError(inventory?.location ?? 'the warehouse');
  return inventory;
}

export interface IntendedResource {
  readonly resource: Resource;
  readonly text: string;
  /** The tags pg-cdc.yml gives it (the keys it owns). */
  readonly tags: Tags;
}

/** The database, every lake table (with its `tables.tags`) and every column, in that order. */
export function intendedResources(config: PgCdcConfig, inventory: LakeInventory): IntendedResource[] {
  const db = inventory.database;
  const out: IntendedResource[] = [];
  const add = (resource: Resource, tags: Tags): void => {
    const text = formatResource(resource);
    out.push({ resource, text, tags: normalizeTags(tags, { resource: text }) });
  };
  add(databaseResource(db), {});
  for (const table of inventory.tables) {
    add(tableResource(db, table.schema, table.table), resolveTags(config.tables.tags, table.schema, table.table));
    for (const column of table.columns) add(columnResource(db, table.schema, table.table, column), {});
  }
  return out;
}

/** Check that a resource names something in the lake; the error says what is there instead. */
export function locateInLake(inventory: LakeInventory, resource: Resource): void {
  const text = formatResource(resource);
  if (resource.db !== inventory.database) {
    throw new ResourceNotInLakeError(
      text,
      `the lake holds database ${JSON.stringify(inventory.database)}, not ${JSON.stringify(resource.db)}`,
      `resources start with the source database name, e.g. ${inventory.database}.${inventory.tables[0]?.identifier ?? 'public.orders'}`,
    );
  }
  if (resource.kind === 'database') return;
  const identifier = `${resource.schema}.${resource.table}`;
  const table = inventory.tables.find((t) => t.identifier === identifier);
  if (!table) {
    const names = inventory.tables.map((t) => t.identifier);
    const suggestion = didYouMean(identifier, names);
    throw new ResourceNotInLakeError(
      text,
      `no table ${identifier} in the lake`,
      `${suggestion ? `${suggestion} ` : ''}the lake's tables are: ${names.join(', ')}`,
    );
  }
  if (resource.kind === 'column' && !table.columns.includes(resource.column)) {
    const suggestion = didYouMean(resource.column, table.columns);
    throw new ResourceNotInLakeError(
      text,
      `no column ${JSON.stringify(resource.column)} in ${identifier}`,
      `${suggestion ? `${suggestion} ` : ''}the columns of ${identifier} are: ${table.columns.join(', ')}`,
    );
  }
}

export interface Drift {
  readonly resource: string;
  /** `unregistered`: in the lake, not in the registry. `tags`: a key pg-cdc.yml sets has another value, or none. */
  readonly kind: 'unregistered' | 'tags';
  readonly expected: Tags;
  /** The registry's own tags; null when unregistered. */
  readonly actual: Tags | null;
  /** The drifted keys (for `tags`). */
  readonly keys: readonly string[];
}

export interface DriftReport {
  readonly database: string;
  readonly drift: readonly Drift[];
  /** Registered resources of this database the lake no longer has; reported, never removed (their audit stays). */
  readonly stale: readonly string[];
}

export async function diffIntent(
  registry: Registry,
  config: PgCdcConfig,
  inventory: LakeInventory,
): Promise<DriftReport> {
  const registered = new Map((await registry.list(inventory.database)).map((record) => [record.text, record]));
  const drift: Drift[] = [];
  const intended = intendedResources(config, inventory);
  for (const { text, tags } of intended) {
    const record = registered.get(text);
    if (!record) {
      drift.push({ resource: text, kind: 'unregistered', expected: tags, actual: null, keys: Object.keys(tags) });
      continue;
    }
    const keys = Object.keys(tags).filter((key) => record.tags[key] !== tags[key]);
    if (keys.length > 0) drift.push({ resource: text, kind: 'tags', expected: tags, actual: record.tags, keys });
  }
  const known = new Set(intended.map((r) => r.text));
  const stale = [...registered.keys()].filter((text) => !known.has(text));
  aclDrift.set({ target: 'registry' }, drift.length);
  return { database: inventory.database, drift, stale };
}

/** Register what is missing and put drifted keys back to pg-cdc.yml's values; returns what it healed. */
export async function syncIntent(
  registry: Registry,
  config: PgCdcConfig,
  inventory: LakeInventory,
  change: Change,
): Promise<Drift[]> {
  const report = await diffIntent(registry, config, inventory);
  const healed: Drift[] = [];
  for (const item of report.drift) {
    const resource = parseResource(item.resource);
    if (item.kind === 'unregistered') {
      if ((await registry.register(resource, item.expected, change)).created) healed.push(item);
    } else {
      const set = Object.fromEntries(item.keys.map((key) => [key, item.expected[key]!]));
      if ((await registry.setTags(resource, { set }, change, 'sync')).changed) healed.push(item);
    }
  }
  // What was not healed here another writer healed meanwhile: nothing is left either way.
  aclDriftHealed.inc({ target: 'registry' }, healed.length);
  aclDrift.set({ target: 'registry' }, 0);
  return healed;
}

export interface Registration {
  readonly created: readonly string[];
  readonly existing: readonly string[];
}

/**
 * Register resources of the lake at version 0 with pg-cdc.yml's tags: `only` (each checked against the lake), or
 * everything the lake holds. Registered resources are left as they are.
 */
export async function registerLake(
  registry: Registry,
  config: PgCdcConfig,
  inventory: LakeInventory,
  change: Change,
  only?: readonly Resource[],
): Promise<Registration> {
  for (const resource of only ?? []) locateInLake(inventory, resource);
  const wanted = only && new Set(only.map(formatResource));
  const created: string[] = [];
  const existing: string[] = [];
  for (const item of intendedResources(config, inventory)) {
    if (wanted && !wanted.has(item.text)) continue;
    ((await registry.register(item.resource, item.tags, change)).created ? created : existing).push(item.text);
  }
  return { created, existing };
}
