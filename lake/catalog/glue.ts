import { createHash } from 'node:crypto';
import {
  CreateDatabaseCommand,
  CreateTableCommand,
  DeleteTableCommand,
  GetTableCommand,
  GlueClient,
  paginateGetTables,
  UpdateTableCommand,
  type GlueClientConfig,
  type Table,
  type TableInput,
} from '@aws-sdk/client-glue';
import { CommitConflictError, TableExistsError, TableNotFoundError } from '../errors.js';
import { currentSchema, type TableMetadata } from '../iceberg/metadata.js';
import type { ObjectStore } from '../storage/index.js';
import { validateKey } from '../storage/keys.js';
import { glueColumns } from './glue-columns.js';
import { awsErrorName, CatalogEntryInvalidError, glueFailure } from './glue-errors.js';
import { parseIdentifier, type Catalog, type CatalogTable } from './index.js';

/** The table parameters Iceberg's GlueCatalog reads and writes (GlueTableOperations, BaseMetastoreTableOperations). */
export const GLUE_PARAMETERS = {
  tableType: 'table_type',
  metadataLocation: 'metadata_location',
  previousMetadataLocation: 'previous_metadata_location',
  /** Ours: the identifier the Glue table name was derived from, so that listing needs no reverse mapping. */
  identifier: 'pgcdc.identifier',
} as const;

export const ICEBERG_TABLE_TYPE = 'ICEBERG';

export interface GlueConnectionOptions {
  /** The Glue database every table is registered in (`catalog.database`); created on first use. */
  readonly database: string;
  /** Default: the AWS SDK's region chain (AWS_REGION, the profile). */
  readonly region?: string | undefined;
  /** Another endpoint than AWS's (moto, LocalStack). */
  readonly endpoint?: string | undefined;
  /** Default: the AWS SDK's credential provider chain. */
  readonly credentials?: GlueClientConfig['credentials'];
}

export interface GlueCatalogOptions extends GlueConnectionOptions {
  /** Reads a table's metadata file: the Glue table's columns follow the schema the pointer's metadata has. */
  readonly readMetadata: (key: string) => Promise<TableMetadata | undefined>;
}

export function glueClient(options: GlueConnectionOptions): GlueClient {
  return new GlueClient({
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    retryMode: 'adaptive',
  });
}

/** Creates the Glue database unless it exists. */
export async function createGlueDatabase(glue: GlueClient, database: string): Promise<void> {
  try {
    await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: database } }));
  } catch (error) {
    if (awsErrorName(error) !== 'AlreadyExistsException') throw glueFailure('CreateDatabase', error, { database });
  }
}

/**
 * Glue table name of an identifier. Glue (and Athena) fold names to lower case and allow letters, digits and
 * `_`; `public.orders` becomes `public__orders`. A name that had to be changed to fit, or whose schema part holds
 * `__` (so that `a__b.c` and `a.b__c` could meet), gets a hash of the identifier appended.
 */
export function glueTableName(identifier: string): string {
  const { namespace, name } = parseIdentifier(identifier);
  const clean = (part: string) => part.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const plain = `${clean(namespace)}__${clean(name)}`;
  const exact = clean(namespace) === namespace && clean(name) === name && !namespace.includes('__');
  if (exact && plain.length <= 255) return plain;
  const hash = createHash('sha256').update(identifier).digest('hex').slice(0, 10);
  return `${plain.slice(0, 240)}_${hash}`;
}

/**
 * The catalog in AWS Glue, as Iceberg's own GlueCatalog keeps it: each table a Glue table of `table_type=ICEBERG`
 * whose `metadata_location` names the current metadata file, so Athena, Spark, Snowflake and PyIceberg find it.
 *
 * A commit is optimistic, with Iceberg's protocol: the Glue table is read, its `metadata_location` must still be
 * the file the writer built on, and the update carries the `VersionId` that was read, so Glue refuses it
 * (ConcurrentModificationException) when anyone updated the table in between. Either way the writer gets
 * CommitConflictError and retries from the table it re-reads, as with the local catalog.
 */
export class GlueCatalog implements Catalog {
  private readonly glue: GlueClient;
  private readonly database: string;
  private readonly readMetadata: GlueCatalogOptions['readMetadata'];
  private databaseReady: Promise<void> | undefined;

  constructor(
    private readonly store: ObjectStore,
    options: GlueCatalogOptions,
  ) {
    this.database = options.database;
    this.readMetadata = options.readMetadata;
    this.glue = glueClient(options);
  }

  async createTable(identifier: string, table: { metadataKey: string; location: string }): Promise<CatalogTable> {
    validateKey(table.metadataKey);
    validateKey(table.location);
    const name = glueTableName(identifier);
    await this.ensureDatabase();
    const parameters = {
      [GLUE_PARAMETERS.tableType]: ICEBERG_TABLE_TYPE,
      [GLUE_PARAMETERS.metadataLocation]: this.store.uri(table.metadataKey),
      [GLUE_PARAMETERS.identifier]: identifier,
    };
    const input = await this.tableInput(name, table.location, table.metadataKey, parameters);
    try {
      await this.glue.send(new CreateTableCommand({ DatabaseName: this.database, TableInput: input }));
    } catch (error) {
      if (awsErrorName(error) === 'AlreadyExistsException') {
        const existing = await this.getTable(identifier).catch(() => undefined);
        throw new TableExistsError(identifier, existing?.Parameters?.[GLUE_PARAMETERS.metadataLocation] ?? '');
      }
      throw glueFailure('CreateTable', error, this.context(identifier));
    }
    return { identifier, ...table };
  }

  async loadTable(identifier: string): Promise<CatalogTable> {
    const table = await this.getTable(identifier);
    if (!table) throw new TableNotFoundError(identifier);
    return this.entryOf(identifier, table);
  }

  async listTables(namespace?: string): Promise<string[]> {
    const identifiers: string[] = [];
    try {
      for await (const page of paginateGetTables({ client: this.glue }, { DatabaseName: this.database })) {
        for (const table of page.TableList ?? []) {
          const identifier = table.Parameters?.[GLUE_PARAMETERS.identifier];
          // Only our tables: others may share the database.
          if (identifier === undefined || table.Parameters?.[GLUE_PARAMETERS.tableType] !== ICEBERG_TABLE_TYPE)
            continue;
          if (namespace === undefined || parseIdentifier(identifier).namespace === namespace)
            identifiers.push(identifier);
        }
      }
    } catch (error) {
      if (awsErrorName(error) === 'EntityNotFoundException') return [];
      throw glueFailure('GetTables', error, { database: this.database });
    }
    return identifiers.sort();
  }

  async dropTable(identifier: string): Promise<boolean> {
    const name = glueTableName(identifier);
    try {
      await this.glue.send(new DeleteTableCommand({ DatabaseName: this.database, Name: name }));
      return true;
    } catch (error) {
      if (awsErrorName(error) === 'EntityNotFoundException') return false;
      throw glueFailure('DeleteTable', error, this.context(identifier));
    }
  }

  async commitTable(identifier: string, expectedMetadataKey: string, newMetadataKey: string): Promise<void> {
    validateKey(newMetadataKey);
    const table = await this.getTable(identifier);
    if (!table) throw new TableNotFoundError(identifier);
    const current = this.entryOf(identifier, table);
    if (current.metadataKey !== expectedMetadataKey) {
      throw new CommitConflictError(`table ${identifier} was committed by another writer`, {
        table: identifier,
        expected: expectedMetadataKey,
        actual: current.metadataKey,
      });
    }
    const parameters = {
      ...table.Parameters,
      [GLUE_PARAMETERS.tableType]: ICEBERG_TABLE_TYPE,
      [GLUE_PARAMETERS.metadataLocation]: this.store.uri(newMetadataKey),
      [GLUE_PARAMETERS.previousMetadataLocation]: this.store.uri(expectedMetadataKey),
      [GLUE_PARAMETERS.identifier]: identifier,
    };
    const input = await this.tableInput(glueTableName(identifier), current.location, newMetadataKey, parameters);
    try {
      // SkipArchive, as Iceberg's GlueCatalog does by default: every epoch is a commit, and Glue would otherwise
      // keep a table version for each (its limit is per table, and nothing reads them: Iceberg keeps the history).
      await this.glue.send(
        new UpdateTableCommand({
          DatabaseName: this.database,
          TableInput: { ...input, Description: table.Description, Owner: table.Owner },
          VersionId: table.VersionId,
          SkipArchive: true,
        }),
      );
    } catch (error) {
      if (awsErrorName(error) === 'ConcurrentModificationException') {
        throw new CommitConflictError(`table ${identifier} was updated in Glue while this commit was made`, {
          table: identifier,
          expected: table.VersionId,
          actual: undefined,
        });
      }
      if (awsErrorName(error) === 'EntityNotFoundException') throw new TableNotFoundError(identifier);
      throw glueFailure('UpdateTable', error, this.context(identifier));
    }
  }

  /** The Glue table of `identifier`; undefined when it (or the database) does not exist. */
  private async getTable(identifier: string): Promise<Table | undefined> {
    try {
      const out = await this.glue.send(
        new GetTableCommand({ DatabaseName: this.database, Name: glueTableName(identifier) }),
      );
      return out.Table;
    } catch (error) {
      if (awsErrorName(error) === 'EntityNotFoundException') return undefined;
      throw glueFailure('GetTable', error, this.context(identifier));
    }
  }

  private entryOf(identifier: string, table: Table): CatalogTable {
    const context = { ...this.context(identifier), glue_table: table.Name };
    const owner = table.Parameters?.[GLUE_PARAMETERS.identifier];
    if (owner !== identifier) {
      throw new CatalogEntryInvalidError(`Glue table ${table.Name} is not pg-cdc's table ${identifier}`, {
        ...context,
        registered_as: owner,
      });
    }
    const pointer = table.Parameters?.[GLUE_PARAMETERS.metadataLocation];
    const metadataKey = pointer === undefined ? undefined : this.store.keyOf(pointer);
    const location = table.StorageDescriptor?.Location;
    const locationKey = location === undefined ? undefined : this.store.keyOf(location);
    if (metadataKey === undefined || locationKey === undefined) {
      throw new CatalogEntryInvalidError(`Glue table ${table.Name} does not point into this lake`, {
        ...context,
        metadata_location: pointer,
        location,
      });
    }
    return { identifier, metadataKey, location: locationKey };
  }

  private async tableInput(
    name: string,
    location: string,
    metadataKey: string,
    parameters: Record<string, string>,
  ): Promise<TableInput> {
    const metadata = await this.readMetadata(metadataKey);
    return {
      Name: name,
      TableType: 'EXTERNAL_TABLE',
      Parameters: parameters,
      StorageDescriptor: {
        Location: this.store.uri(location),
        ...(metadata ? { Columns: glueColumns(currentSchema(metadata)) } : {}),
      },
    };
  }

  /** Creates the database once per process; a failed attempt is tried again by the next call. */
  private ensureDatabase(): Promise<void> {
    this.databaseReady ??= this.glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: this.database } })).then(
      () => undefined,
      (error: unknown) => {
        if (awsErrorName(error) === 'AlreadyExistsException') return;
        this.databaseReady = undefined;
        throw glueFailure('CreateDatabase', error, { database: this.database });
      },
    );
    return this.databaseReady;
  }

  private context(identifier: string): { table: string; database: string } {
    return { table: identifier, database: this.database };
  }
}
