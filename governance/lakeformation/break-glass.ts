/**
 * Break-glass grants in Lake Formation: while a grant is in force, the role's IAM principal also holds a named
 * grant on the resource (SELECT and DESCRIBE: every table of the Glue database for a database, the table, or the
 * one column), so Athena or Spark honour it like pg-cdc does. BreakGlassWorkflow's activities grant it after the
 * registry write and revoke it when the grant ends (at its TTL or on request); both are idempotent, so a retried
 * activity, or a revoke after a reader already lapsed the grant in the registry, changes nothing more.
 */
import {
  GrantPermissionsCommand,
  RevokePermissionsCommand,
  type Resource as LfResource,
} from '@aws-sdk/client-lakeformation';
import { formatResource, type Resource } from '../resource.js';
import { LakeFormationError, lakeFormationFailure, type LakeFormationClients } from './client.js';
import { LF_TABLE_PERMISSIONS } from './policies.js';
import { readGlueTargets } from './targets.js';

/** The Lake Formation resource a break-glass grant on `resource` names. */
async function lakeFormationResource(clients: LakeFormationClients, resource: Resource): Promise<LfResource> {
  const DatabaseName = clients.database;
  if (resource.kind === 'database') return { Table: { DatabaseName, TableWildcard: {} } };
  const identifier = `${resource.schema}.${resource.table}`;
  const table = (await readGlueTargets(clients)).tables.get(identifier);
  if (!table) {
    throw new LakeFormationError('LAKE_FORMATION_FAILED', `${identifier} is not registered in Glue yet`, {
      context: { resource: formatResource(resource), database: DatabaseName },
      hint: 'the Glue catalog registers a table when it commits to it; grant again once it is there',
    });
  }
  if (resource.kind === 'table') return { Table: { DatabaseName, Name: table.name } };
  const column = table.columns.get(resource.column.toLowerCase()) ?? resource.column;
  return { TableWithColumns: { DatabaseName, Name: table.name, ColumnNames: [column] } };
}

export async function grantBreakGlassInLakeFormation(
  clients: LakeFormationClients,
  principalArn: string,
  resource: Resource,
): Promise<void> {
  const Resource = await lakeFormationResource(clients, resource);
  try {
    await clients.lakeFormation.send(
      new GrantPermissionsCommand({
        Principal: { DataLakePrincipalIdentifier: principalArn },
        Resource,
        Permissions: [...LF_TABLE_PERMISSIONS],
      }),
    );
  } catch (error) {
    throw lakeFormationFailure('GrantPermissions', error, { resource: formatResource(resource) });
  }
}

/** Revoke it; a grant Lake Formation does not hold (revoked already) is no error. */
export async function revokeBreakGlassInLakeFormation(
  clients: LakeFormationClients,
  principalArn: string,
  resource: Resource,
): Promise<void> {
  const Resource = await lakeFormationResource(clients, resource);
  try {
    await clients.lakeFormation.send(
      new RevokePermissionsCommand({
        Principal: { DataLakePrincipalIdentifier: principalArn },
        Resource,
        Permissions: [...LF_TABLE_PERMISSIONS],
      }),
    );
  } catch (error) {
    const alreadyGone =
      error instanceof Error && error.name === 'InvalidInputException' && /no permissions/i.test(error.message);
    if (!alreadyGone) throw lakeFormationFailure('RevokePermissions', error, { resource: formatResource(resource) });
  }
}
