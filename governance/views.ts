/** What `pg-cdc acl get` and `acl list` show about resources: own and effective tags, and which grants match. */
import { evaluateTagExpression } from './expression.js';
import type { ResourceView } from './format.js';
import type { LakeInventory } from './intent.js';
import type { Registry } from './registry.js';
import { formatResource, parseResource, tableResource, type Resource } from './resource.js';
import type { RoleSet } from './roles.js';
import { isEmptyTags, missingKeys, type Tags } from './tags.js';

/** Classified: carries every required key, or any tag when none is required. */
export const isClassified = (tags: Tags, requireTags: readonly string[]): boolean =>
  !isEmptyTags(tags) && missingKeys(tags, requireTags).length === 0;

export async function resourceView(
  registry: Registry,
  roles: RoleSet,
  resource: Resource,
  options: { history?: boolean } = {},
): Promise<ResourceView> {
  const record = await registry.get(resource);
  const { tags: effective, from } = await registry.effectiveTags(resource);
  const matches = isEmptyTags(effective)
    ? []
    : [...roles.values()].filter((role) => evaluateTagExpression(role.grant, effective)).map((role) => role.name);
  return {
    resource: formatResource(resource),
    kind: resource.kind,
    registered: record !== undefined,
    version: record?.version ?? null,
    tags: record?.tags ?? {},
    effective,
    from,
    matches,
    ...(record ? { registeredAt: record.registeredAt, updatedAt: record.updatedAt } : {}),
    ...(options.history ? { history: await registry.audit({ resource }) } : {}),
  };
}

/**
 * Every registered resource (of the lake's database, when there is a lake); with `unclassified`, the tables (in
 * the lake or registered) whose effective tags are not classified instead. A column inherits its table's tags and
 * can only add to them, so an unclassified column always sits in an unclassified table.
 */
export async function listViews(
  registry: Registry,
  roles: RoleSet,
  inventory: LakeInventory | undefined,
  options: { unclassified?: boolean; requireTags?: readonly string[] } = {},
): Promise<ResourceView[]> {
  const records = await registry.list(inventory?.database);
  const view = (resource: Resource): Promise<ResourceView> => resourceView(registry, roles, resource);
  if (!options.unclassified) return Promise.all(records.map((record) => view(record.resource)));
  const tables = new Map<string, Resource>();
  for (const record of records) {
    if (record.resource.kind === 'table') tables.set(record.text, record.resource);
  }
  for (const table of inventory?.tables ?? []) {
    const resource = tableResource(inventory!.database, table.schema, table.table);
    tables.set(formatResource(resource), resource);
  }
  const views = await Promise.all([...tables.keys()].sort().map((text) => view(parseResource(text))));
  return views.filter((candidate) => !isClassified(candidate.effective, options.requireTags ?? []));
}
