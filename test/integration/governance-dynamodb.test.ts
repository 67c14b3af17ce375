/** The registry contract on DynamoDB (moto): the same suite the SQLite registry passes in the unit tests. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { parseConfig } from '../../core/config/index.js';
import { DynamoBackend } from '../../governance/backends/dynamodb.js';
import { Registry } from '../../governance/registry.js';
import { parseResource } from '../../governance/resource.js';
import { registryContract } from '../support/registry-contract.js';
import { motoEndpoint, uniqueName } from '../support/stack.js';

const moto = motoEndpoint();
const client = new DynamoDBClient({
  endpoint: moto.endpoint ?? 'http://127.0.0.1:1',
  region: 'us-east-1',
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
});
after(() => client.destroy());

const tableName = (): string => uniqueName('pgcdc-acl').replace(/_/g, '-');

registryContract(
  'dynamodb',
  () => {
    const table = tableName();
    return { open: (options) => new Registry(new DynamoBackend(client, table), options) };
  },
  moto.skip === undefined ? {} : { skip: moto.skip },
);

describe('the DynamoDB registry from the configuration', () => {
  it('creates catalog.acl_table on demand on first use and keeps it', { skip: moto.skip }, async () => {
    const table = tableName();
    process.env.AWS_ACCESS_KEY_ID ??= 'testing';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
    const config = parseConfig(
      [
        'source:',
        '  postgres:',
        '    url: postgresql://u@h/shop',
        'storage: { type: s3, bucket: lake, region: us-east-1 }',
        'catalog:',
        '  type: iceberg',
        `  endpoint: ${moto.endpoint}`,
        `  acl_table: ${table}`,
        'governance:',
        '  registry: dynamodb',
      ].join('\n'),
    );
    const registry = Registry.forConfig(config);
    assert.equal(registry.location, `dynamodb:${table}`);
    assert.equal(await registry.policyVersion(), 0);
    const described = await client.send(new DescribeTableCommand({ TableName: table }));
    assert.equal(described.Table?.BillingModeSummary?.BillingMode, 'PAY_PER_REQUEST');
    await registry.register(parseResource('shop.public.orders'), { domain: 'sales' }, { actor: 'a', reason: 'b' });
    await registry.close();
    const again = Registry.forConfig(config);
    assert.deepEqual((await again.get(parseResource('shop.public.orders')))?.tags, { domain: 'sales' });
    assert.equal(await again.policyVersion(), 1);
    await again.close();
  });
});
