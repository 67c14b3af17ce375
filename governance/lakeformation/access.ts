/**
 * What Lake Formation lets principals read, decided the way Lake Formation decides: a column is readable when its
 * effective LF-tags (its own over its table's over its database's) satisfy one of the principal's LF-tag policy
 * grants on tables. `readLakeFormationSnapshot` reads it all once (GetResourceLFTags on the Glue database, each
 * table and its columns; ListPermissions); the query engine's Lake Formation policy decides from a snapshot
 * (policy.ts), and `lakeFormationAccess` lists one principal's columns from a fresh one.
 */
import { GetResourceLFTagsCommand, type LFTagPair, type Resource as LfResource } from '@aws-sdk/client-lakeformation';
import type { TagExpression } from '../expression.js';
import type { Tags } from '../tags.js';
import { lakeFormationFailure, type LakeFormationClients } from './client.js';
import { readPolicyGrants, type TagPolicy } from './policies.js';
import { readGlueTargets } from './targets.js';

export interface LakeFormationTable {
  /** The Glue column names, in the table's order. */
  readonly columns: readonly string[];
  readonly tags: Tags;
  /** By Glue column name (lower case). */
  readonly columnTags: ReadonlyMap<string, Tags>;
}

export interface LakeFormationSnapshot {
  readonly databaseTags: Tags;
  /** By lake identifier. */
  readonly tables: ReadonlyMap<string, LakeFormationTable>;
  /** By principal ARN: its LF-tag policy grants on tables. */
  readonly policies: ReadonlyMap<string, readonly TagPolicy[]>;
}

const toTags = (pairs: readonly LFTagPair[] | undefined): Tags =>
  Object.fromEntries(
    (pairs ?? []).flatMap((pair) =>
      pair.TagKey && pair.TagValues?.[0] !== undefined ? [[pair.TagKey, pair.TagValues[0]]] : [],
    ),
  );

export async function readLakeFormationSnapshot(clients: LakeFormationClients): Promise<LakeFormationSnapshot> {
  const held = await readPolicyGrants(clients);
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
  const DatabaseName = clients.database;
  const databaseTags = toTags((await read({ Database: { Name: DatabaseName } })).LFTagOnDatabase);
  const tables = new Map<string, LakeFormationTable>();
  for (const [identifier, table] of targets.tables) {
    const tags = toTags((await read({ Table: { DatabaseName, Name: table.name } })).LFTagsOnTable);
    const columns = [...table.columns.values()];
    const onColumns =
      columns.length === 0
        ? []
        : ((await read({ TableWithColumns: { DatabaseName, Name: table.name, ColumnNames: columns } }))
            .LFTagsOnColumns ?? []);
    const columnTags = new Map(onColumns.map((column) => [column.Name?.toLowerCase() ?? '', toTags(column.LFTags)]));
    tables.set(identifier, { columns, tags, columnTags });
  }
  const policies = new Map([...held].map(([principal, mine]) => [principal, [...mine.values()]]));
  return { databaseTags, tables, policies };
}

/** A principal's LF-tag policies as a tag expression: `or` of `and`s of `in`; undefined when it holds none. */
export function policiesAsExpression(policies: readonly TagPolicy[]): TagExpression | undefined {
  if (policies.length === 0) return undefined;
  return {
    op: 'or',
    terms: policies.map((policy) => ({
      op: 'and' as const,
      terms: policy.map(({ key, values }) => ({ op: 'in' as const, key, values })),
    })),
  };
}

const satisfies = (tags: Tags, policy: TagPolicy): boolean =>
  policy.every(({ key, values }) => tags[key] !== undefined && values.includes(tags[key]));

/** Lake identifier → the Glue columns the principal may read (tables with none are left out). */
export async function lakeFormationAccess(
  clients: LakeFormationClients,
  principalArn: string,
): Promise<Map<string, string[]>> {
  const snapshot = await readLakeFormationSnapshot(clients);
  const policies = snapshot.policies.get(principalArn) ?? [];
  const access = new Map<string, string[]>();
  for (const [identifier, table] of snapshot.tables) {
    const visible = table.columns.filter((column) => {
      const tags = { ...snapshot.databaseTags, ...table.tags, ...table.columnTags.get(column.toLowerCase()) };
      return Object.keys(tags).length > 0 && policies.some((policy) => satisfies(tags, policy));
    });
    if (visible.length > 0) access.set(identifier, visible);
  }
  return access;
}
