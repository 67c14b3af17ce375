/**
 * The registry's own tags versus the LF-tags assigned in Lake Formation. The registry is the intent: every
 * resource of the Glue database carries exactly its registry resource's own tags (Lake Formation resolves
 * inheritance database → table → column itself, as the registry does), and a new column still hidden
 * (`governance.new_columns: hidden`) carries, besides, a value no grant admits under every key the grants name
 * (governance/new-columns.ts). A Glue table or column the registry does not have should carry none. `diffLakeFormation` reads (GetResourceLFTags on the database, each table and its
 * columns); `syncLakeFormation` creates the LF-tags it needs, then removes and adds tags
 * (RemoveLFTagsFromResource, AddLFTagsToResource) and audits each healed resource as `lf-sync`.
 */
import {
  AddLFTagsToResourceCommand,
  GetResourceLFTagsCommand,
  RemoveLFTagsFromResourceCommand,
  type LFTagPair,
  type Resource as LfResource,
} from '@aws-sdk/client-lakeformation';
import type { Change } from '../audit.js';
import type { Registry } from '../registry.js';
import { columnResource, databaseResource, formatResource, splitLakeIdentifier, tableResource } from '../resource.js';
import { lakeFormationColumnTags } from '../new-columns.js';
import type { Tags } from '../tags.js';
import { LakeFormationError, lakeFormationFailure, throwOnTagFailures, type LakeFormationClients } from './client.js';
import { addToCatalog, ensureTagCatalog, type TagCatalog } from './tags.js';
import { readGlueTargets } from './targets.js';

export interface LakeFormationDrift {
  /** The registry resource (canonical text). */
  readonly resource: string;
  /** The Glue resource: `database`, `database.table` or `database.table.column`. */
  readonly target: string;
  readonly expected: Tags;
  readonly actual: Tags;
  /** Tags to add (a key missing, or with another value). */
  readonly add: Tags;
  /** Tags to remove, with the value Lake Formation has (a key the registry does not set, or a changed value). */
  readonly remove: Tags;
}

export interface LakeFormationReport {
  /** The Glue database. */
  readonly database: string;
  readonly drift: readonly LakeFormationDrift[];
  /** Registry tables with no Glue table (not registered in Glue yet): nothing to tag. */
  readonly unmapped: readonly string[];
}

interface Assignment {
  readonly resource: string;
  readonly target: string;
  readonly lf: LfResource;
  readonly expected: Tags;
  readonly actual: Tags;
}

const toTags = (pairs: readonly LFTagPair[] | undefined): Tags =>
  Object.fromEntries(
    (pairs ?? []).flatMap((pair) =>
      pair.TagKey && pair.TagValues?.[0] !== undefined ? [[pair.TagKey, pair.TagValues[0]]] : [],
    ),
  );

const toPairs = (tags: Tags): LFTagPair[] =>
  Object.entries(tags)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([key, value]) => ({ TagKey: key, TagValues: [value] }));

/** Every Glue resource of the lake with the registry's intent for it, and what Lake Formation has now. */
async function readAssignments(
  clients: LakeFormationClients,
  registry: Registry,
  db: string,
  grantKeys: readonly string[],
): Promise<{ assignments: Assignment[]; unmapped: string[] }> {
  const targets = await readGlueTargets(clients);
  const records = await registry.list(db);
  const own = new Map(records.map((record) => [record.text, record.tags]));
  /** Registered columns of each table, by lower-case name (Glue's). */
  const columnsOf = new Map<string, Map<string, string>>();
  for (const { resource, text } of records) {
    if (resource.kind !== 'column') continue;
    const table = formatResource(tableResource(db, resource.schema, resource.table));
    const columns = columnsOf.get(table) ?? new Map<string, string>();
    columns.set(resource.column.toLowerCase(), text);
    columnsOf.set(table, columns);
  }
  const glueDb = clients.database;
  const get = async (lf: LfResource, target: string) => {
    try {
      return await clients.lakeFormation.send(new GetResourceLFTagsCommand({ Resource: lf, ShowAssignedLFTags: true }));
    } catch (error) {
      throw lakeFormationFailure('GetResourceLFTags', error, { resource: target });
    }
  };
  const assignments: Assignment[] = [];
  const dbText = formatResource(databaseResource(db));
  const dbLf: LfResource = { Database: { Name: glueDb } };
  const onDb = await get(dbLf, glueDb);
  assignments.push({
    resource: dbText,
    target: glueDb,
    lf: dbLf,
    expected: own.get(dbText) ?? {},
    actual: toTags(onDb.LFTagOnDatabase),
  });

  const mapped = new Set<string>();
  for (const [identifier, table] of [...targets.tables].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const parts = splitLakeIdentifier(identifier);
    if (!parts) continue;
    const tableText = formatResource(tableResource(db, parts.schema, parts.table));
    mapped.add(tableText);
    const tableTarget = `${glueDb}.${table.name}`;
    const tableLf: LfResource = { Table: { DatabaseName: glueDb, Name: table.name } };
    const onTable = await get(tableLf, tableTarget);
    assignments.push({
      resource: tableText,
      target: tableTarget,
      lf: tableLf,
      expected: own.get(tableText) ?? {},
      actual: toTags(onTable.LFTagsOnTable),
    });
    const glueColumns = [...table.columns.values()];
    const withColumns: LfResource = {
      TableWithColumns: { DatabaseName: glueDb, Name: table.name, ColumnNames: glueColumns },
    };
    const onColumns = glueColumns.length === 0 ? [] : ((await get(withColumns, tableTarget)).LFTagsOnColumns ?? []);
    const actualByColumn = new Map(onColumns.map((column) => [column.Name?.toLowerCase(), toTags(column.LFTags)]));
    const registered = columnsOf.get(tableText) ?? new Map<string, string>();
    for (const [lower, glueColumn] of table.columns) {
      const text = registered.get(lower) ?? formatResource(columnResource(db, parts.schema, parts.table, glueColumn));
      assignments.push({
        resource: text,
        target: `${tableTarget}.${glueColumn}`,
        lf: { TableWithColumns: { DatabaseName: glueDb, Name: table.name, ColumnNames: [glueColumn] } },
        expected: lakeFormationColumnTags(own.get(text) ?? {}, grantKeys),
        actual: actualByColumn.get(lower) ?? {},
      });
    }
  }
  const unmapped = records.filter((r) => r.resource.kind === 'table' && !mapped.has(r.text)).map((r) => r.text);
  return { assignments, unmapped };
}

function driftOf(assignment: Assignment): LakeFormationDrift | undefined {
  const { expected, actual } = assignment;
  const add = Object.fromEntries(Object.entries(expected).filter(([key, value]) => actual[key] !== value));
  const remove = Object.fromEntries(Object.entries(actual).filter(([key, value]) => expected[key] !== value));
  if (Object.keys(add).length === 0 && Object.keys(remove).length === 0) return undefined;
  return { resource: assignment.resource, target: assignment.target, expected, actual, add, remove };
}

/** `grants`: the LF-tags the roles' grants name (grantTagCatalog); a hidden column is tagged against their keys. */
export async function diffLakeFormation(
  clients: LakeFormationClients,
  registry: Registry,
  db: string,
  grants: TagCatalog = new Map(),
): Promise<LakeFormationReport> {
  const { assignments, unmapped } = await readAssignments(clients, registry, db, [...grants.keys()]);
  const drift = assignments.flatMap((assignment) => driftOf(assignment) ?? []);
  return { database: clients.database, drift, unmapped };
}

/**
 * Heal every drifted resource: create the LF-tags the registry uses, remove what should not be there, add what
 * should, then audit each healed resource (`lf-sync`, before and after). Returns what it healed.
 */
export async function syncLakeFormation(
  clients: LakeFormationClients,
  registry: Registry,
  db: string,
  change: Change,
  grants: TagCatalog = new Map(),
): Promise<LakeFormationDrift[]> {
  const { assignments } = await readAssignments(clients, registry, db, [...grants.keys()]);
  const wanted: TagCatalog = new Map(grants);
  for (const { expected } of assignments) {
    for (const [key, value] of Object.entries(expected)) addToCatalog(wanted, key, [value]);
  }
  await ensureTagCatalog(clients, wanted);
  const healed: LakeFormationDrift[] = [];
  for (const assignment of assignments) {
    const drift = driftOf(assignment);
    if (!drift) continue;
    const context = { resource: drift.target };
    try {
      if (Object.keys(drift.remove).length > 0) {
        const removed = await clients.lakeFormation.send(
          new RemoveLFTagsFromResourceCommand({ Resource: assignment.lf, LFTags: toPairs(drift.remove) }),
        );
        throwOnTagFailures('RemoveLFTagsFromResource', removed.Failures, context);
      }
      // The whole intended set, not only the missing keys: adding a value a resource has is a no-op, and an
      // implementation that replaces a resource's tags on every add (moto's, for tables) ends up right too.
      if (Object.keys(drift.add).length > 0) {
        const added = await clients.lakeFormation.send(
          new AddLFTagsToResourceCommand({ Resource: assignment.lf, LFTags: toPairs(drift.expected) }),
        );
        throwOnTagFailures('AddLFTagsToResource', added.Failures, context);
      }
    } catch (error) {
      if (error instanceof LakeFormationError) throw error;
      throw lakeFormationFailure('AddLFTagsToResource/RemoveLFTagsFromResource', error, context);
    }
    await registry.recordAudit(change, {
      action: 'lf-sync',
      resource: drift.resource,
      before: { lakeFormation: drift.actual },
      after: { lakeFormation: drift.expected },
    });
    healed.push(drift);
  }
  return healed;
}
