/**
 * The DynamoDB table of `governance.registry: dynamodb` (named by `catalog.acl_table`): one table, partition key
 * `pk` and sort key `sk`, both strings, billed on demand. docs/governance.md gives the same definition as
 * CloudFormation, for accounts where pg-cdc may not create tables; otherwise the first use creates it.
 *
 * | item | pk | sk |
 * |---|---|---|
 * | policy_version | `meta` | `policy_version` (attribute `n`) |
 * | a resource | `resource#<db>` | its canonical text |
 * | an audit entry | `audit` | its policy_version, zero-padded (the order of the trail) |
 * | a break-glass grant | `grant` | the grant id |
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  waitUntilTableExists,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { PgCdcError } from '../../core/errors/index.js';

export const KEY = { partition: 'pk', sort: 'sk' } as const;

/** How long a table just created may take to become ACTIVE before first use fails. */
const CREATE_WAIT_SECONDS = 120;

/** Make sure the table exists and is ACTIVE: create it (on demand) when it does not; a concurrent creator is fine. */
export async function ensureAclTable(client: DynamoDBClient, table: string): Promise<void> {
  try {
    const described = await client.send(new DescribeTableCommand({ TableName: table }));
    if (described.Table?.TableStatus === 'ACTIVE') return;
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw unavailable(table, error);
    try {
      await client.send(
        new CreateTableCommand({
          TableName: table,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: KEY.partition, AttributeType: 'S' },
            { AttributeName: KEY.sort, AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: KEY.partition, KeyType: 'HASH' },
            { AttributeName: KEY.sort, KeyType: 'RANGE' },
          ],
        }),
      );
    } catch (createError) {
      if (!(createError instanceof ResourceInUseException)) throw unavailable(table, createError);
    }
  }
  try {
    await waitUntilTableExists({ client, maxWaitTime: CREATE_WAIT_SECONDS }, { TableName: table });
  } catch (error) {
    throw unavailable(table, error);
  }
}

export function unavailable(table: string, cause: unknown): PgCdcError {
  return new PgCdcError('REGISTRY_UNAVAILABLE', `cannot use the DynamoDB governance table ${table}`, {
    context: { table },
    hint:
      'check catalog.region, catalog.endpoint and the credentials: the principal needs dynamodb:DescribeTable, ' +
      'CreateTable (or the table made from the CloudFormation in docs/governance.md), GetItem, Query, Scan and ' +
      'TransactWriteItems on it',
    cause,
  });
}
