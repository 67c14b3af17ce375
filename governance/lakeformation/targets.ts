/**
 * Where each registry resource lives in the Glue Data Catalog. The database resource is the Glue database
 * `catalog.database`; a lake table is the Glue table whose parameter `pgcdc.identifier` names it (the Glue catalog
 * writes it when it registers a table, so no name mapping is guessed here); a column is that table's column of the
 * same name, compared case-insensitively (Glue folds column names to lower case).
 */
import { paginateGetTables } from '@aws-sdk/client-glue';
import { GLUE_PARAMETERS } from '../../lake/catalog/glue.js';
import type { LakeFormationClients } from './client.js';
import { lakeFormationFailure } from './client.js';

/** The Glue table parameter naming the lake identifier (`schema.table`) a table was registered for. */
const GLUE_IDENTIFIER_PARAMETER = GLUE_PARAMETERS.identifier;

export interface GlueTableTarget {
  /** The Glue table name. */
  readonly name: string;
  /** Lake column name (lower case) → Glue column name. */
  readonly columns: ReadonlyMap<string, string>;
}

export interface GlueTargets {
  readonly database: string;
  /** By lake identifier. */
  readonly tables: ReadonlyMap<string, GlueTableTarget>;
}

export async function readGlueTargets(clients: LakeFormationClients): Promise<GlueTargets> {
  const tables = new Map<string, GlueTableTarget>();
  try {
    for await (const page of paginateGetTables({ client: clients.glue }, { DatabaseName: clients.database })) {
      for (const table of page.TableList ?? []) {
        const identifier = table.Parameters?.[GLUE_IDENTIFIER_PARAMETER];
        if (identifier === undefined || table.Name === undefined) continue;
        const columns = new Map<string, string>();
        for (const column of table.StorageDescriptor?.Columns ?? []) {
          if (column.Name !== undefined) columns.set(column.Name.toLowerCase(), column.Name);
        }
        tables.set(identifier, { name: table.Name, columns });
      }
    }
  } catch (error) {
    throw lakeFormationFailure('GetTables', error, { database: clients.database });
  }
  return { database: clients.database, tables };
}
