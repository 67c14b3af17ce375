/**
 * LF-tags: Lake Formation keeps a catalog of tag keys and their allowed values, and a resource can carry only
 * those. pg-cdc creates them from what the registry and the roles use: every key, with every value, before it
 * tags a resource or grants on an expression. Values are only ever added: removing one would fail while any
 * resource or grant still uses it.
 */
import { CreateLFTagCommand, paginateListLFTags, UpdateLFTagCommand } from '@aws-sdk/client-lakeformation';
import { lakeFormationFailure, type LakeFormationClients } from './client.js';

/** Key → values. */
export type TagCatalog = Map<string, Set<string>>;

export function addToCatalog(catalog: TagCatalog, key: string, values: Iterable<string>): void {
  const known = catalog.get(key) ?? new Set<string>();
  for (const value of values) known.add(value);
  catalog.set(key, known);
}

export async function readTagCatalog(clients: LakeFormationClients): Promise<TagCatalog> {
  const catalog: TagCatalog = new Map();
  try {
    for await (const page of paginateListLFTags({ client: clients.lakeFormation }, {})) {
      for (const tag of page.LFTags ?? []) {
        if (tag.TagKey !== undefined) addToCatalog(catalog, tag.TagKey, tag.TagValues ?? []);
      }
    }
  } catch (error) {
    throw lakeFormationFailure('ListLFTags', error);
  }
  return catalog;
}

/** Create the keys LF lacks and add the values it lacks; returns what it created or added, as `key=value`. */
export async function ensureTagCatalog(clients: LakeFormationClients, wanted: TagCatalog): Promise<string[]> {
  const existing = await readTagCatalog(clients);
  const created: string[] = [];
  for (const [key, values] of [...wanted].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const known = existing.get(key);
    const missing = [...values].filter((value) => !known?.has(value)).sort();
    if (missing.length === 0) continue;
    try {
      if (known === undefined)
        await clients.lakeFormation.send(new CreateLFTagCommand({ TagKey: key, TagValues: missing }));
      else await clients.lakeFormation.send(new UpdateLFTagCommand({ TagKey: key, TagValuesToAdd: missing }));
    } catch (error) {
      throw lakeFormationFailure(known === undefined ? 'CreateLFTag' : 'UpdateLFTag', error, { key });
    }
    created.push(...missing.map((value) => `${key}=${value}`));
  }
  return created;
}
