/**
 * What Lake Formation lets a principal read, computed the way Lake Formation decides: a column is readable when
 * its effective LF-tags (its own over its table's over its database's) satisfy one of the principal's LF-tag
 * policy grants on tables. Used to check that Lake Formation enforces what the registry decides (the same access
 * map), and by query-time enforcement from Lake Formation.
 */
import { GetResourceLFTagsCommand, type LFTagPair, type Resource as LfResource } from '@aws-sdk/client-lakeformation';
import { lakeFormationFailure, type LakeFormationClients } from './client.js';
import { readPolicyGrants, type TagPolicy } from './policies.js';
import { readGlueTargets } from './targets.js';

type Tags = Record<string, string>;

const toTags = (pairs: readonly LFTagPair[] | undefined): Tags =>
  Object.fromEntries(
    (pairs ?? []).flatMap((pair) =>
      pair.TagKey && pair.TagValues?.[0] !== undefined ? [[pair.TagKey, pair.TagValues[0]]] : [],
    ),
  );

const satisfies = (tags: Tags, policy: TagPolicy): boolean =>
  policy.every(({ key, values }) => tags[key] !== undefined && values.includes(tags[key]));

/** Lake identifier → the Glue columns the principal may read (tables with none are left out). */
export async function lakeFormationAccess(
  clients: LakeFormationClients,
  principalArn: string,
): Promise<Map<string, string[]>> {
  const policies = [...((await readPolicyGrants(clients)).get(principalArn)?.values() ?? [])];
  const targets = await readGlueTargets(clients);
  const read = async (resource: LfResource) => {
    try {
      return await clients.lakeFormation.send(
        new GetResourceLFTagsCommand({ Resource: resource, ShowAssignedLFTags: true }),
      );
    } catch (error) {
      throw lakeFormationFailure('GetResourceLFTags', error, { database: clients.database });
    }
  };
  const dbTags = toTags((await read({ Database: { Name: clients.database } })).LFTagOnDatabase);
  const access = new Map<string, string[]>();
  for (const [identifier, table] of targets.tables) {
    const tableTags = {
      ...dbTags,
      ...toTags((await read({ Table: { DatabaseName: clients.database, Name: table.name } })).LFTagsOnTable),
    };
    const columns = [...table.columns.values()];
    const onColumns =
      columns.length === 0
        ? []
        : ((
            await read({
              TableWithColumns: { DatabaseName: clients.database, Name: table.name, ColumnNames: columns },
            })
          ).LFTagsOnColumns ?? []);
    const own = new Map(onColumns.map((column) => [column.Name, toTags(column.LFTags)]));
    const visible = columns.filter((column) => {
      const tags = { ...tableTags, ...own.get(column) };
      return Object.keys(tags).length > 0 && policies.some((policy) => satisfies(tags, policy));
    });
    if (visible.length > 0) access.set(identifier, visible);
  }
  return access;
}
