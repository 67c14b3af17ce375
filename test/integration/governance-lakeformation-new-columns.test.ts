/**
 * `governance.new_columns: hidden` enforced by Lake Formation (moto): a column the stream registered with the
 * `pgcdc.unclassified` marker is synced with a value no grant admits under every key the grants name, so Lake
 * Formation's own rule (what Athena applies) and the engine's decision from Lake Formation both hide it, while the
 * table's other columns stay readable; `acl set` classifies it, and the next sync shows it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateDatabaseCommand, CreateTableCommand, GlueClient } from '@aws-sdk/client-glue';
import {
  AddLFTagsToResourceCommand,
  CreateLFTagCommand,
  GetResourceLFTagsCommand,
  LakeFormationClient,
  RemoveLFTagsFromResourceCommand,
} from '@aws-sdk/client-lakeformation';
import { parseConfig } from '../../core/config/index.js';
import { DynamoBackend } from '../../governance/backends/dynamodb.js';
import { registerLake } from '../../governance/intent.js';
import {
  driftCount,
  lakeFormationAccess,
  reconcileLakeFormation,
  type LakeFormationClients,
} from '../../governance/lakeformation/index.js';
import { HIDDEN_IN_LAKE_FORMATION } from '../../governance/new-columns.js';
import { openAccessPolicy } from '../../governance/policy.js';
import type { AccessDecision } from '../../governance/types.js';
import { Registry } from '../../governance/registry.js';
import { parseResource as r } from '../../governance/resource.js';
import { recordColumnChanges } from '../../stream/governance.js';
import { motoEndpoint, tempDir, uniqueName } from '../support/stack.js';

const moto = motoEndpoint();
const aws = {
  endpoint: moto.endpoint ?? 'http://127.0.0.1:1',
  region: 'us-east-1',
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
};
const who = { actor: 'alice', reason: 'classify the new column' };
const arn = (role: string): string => `arn:aws:iam::123456789012:role/${uniqueName(role)}`;

describe('a hidden new column in Lake Formation', { skip: moto.skip }, () => {
  const dynamo = new DynamoDBClient(aws);
  const glue = new GlueClient(aws);
  const lakeFormation = new LakeFormationClient(aws);
  const glueDatabase = uniqueName('newcol_lake');
  const clients: LakeFormationClients = { lakeFormation, glue, database: glueDatabase };
  const principals = { analyst: arn('analyst'), finance: arn('finance') };
  const dir = tempDir('pg-cdc-lf-newcol-');
  const config = parseConfig(
    [
      `state_dir: ${dir}`,
      'source:',
      '  postgres:',
      '    url: postgresql://cdc@db:5432/shop',
      'storage: { type: s3, bucket: lake, region: us-east-1 }',
      'catalog:',
      '  type: iceberg',
      `  database: ${glueDatabase}`,
      `  endpoint: ${aws.endpoint}`,
      '  region: us-east-1',
      `  acl_table: ${uniqueName('acl').replace(/_/g, '-')}`,
      'tables:',
      '  tags:',
      "    'public.*': { domain: sales, sensitivity: internal }",
      'governance:',
      '  catalog: glue',
      '  registry: dynamodb',
      '  new_columns: hidden',
      '  roles:',
      `    analyst: { grant: "sensitivity in [public, internal]", principal_arn: ${principals.analyst} }`,
      `    finance: { grant: "domain = sales", principal_arn: ${principals.finance} }`,
    ].join('\n'),
  );
  const registry = new Registry(new DynamoBackend(dynamo, config.catalog.acl_table!));
  const orders = { identifier: 'public.orders', schema: 'public', table: 'orders', columns: ['id', 'amount'] };
  const discount = {
    TableWithColumns: { DatabaseName: glueDatabase, Name: 'public__orders', ColumnNames: ['discount'] },
  };
  const shapes = [{ identifier: 'public.orders', columns: ['id', 'amount', 'discount'] }];
  const shown = (decision: AccessDecision): string[] => [...(decision.tables.get('public.orders')?.columns ?? [])];
  const lfTagsOnDiscount = async (): Promise<string[]> => {
    const tags = await lakeFormation.send(
      new GetResourceLFTagsCommand({ Resource: discount, ShowAssignedLFTags: true }),
    );
    return (tags.LFTagsOnColumns?.[0]?.LFTags ?? []).map((t) => `${t.TagKey}=${t.TagValues?.join('|')}`).sort();
  };

  before(async () => {
    process.env.AWS_ACCESS_KEY_ID ??= 'testing';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
    await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: glueDatabase } }));
    // The Glue table as the Glue catalog leaves it after the new column's schema change.
    await glue.send(
      new CreateTableCommand({
        DatabaseName: glueDatabase,
        TableInput: {
          Name: 'public__orders',
          Parameters: { 'pgcdc.identifier': 'public.orders', table_type: 'ICEBERG' },
          StorageDescriptor: {
            Columns: ['id', 'amount', 'discount'].map((name) => ({ Name: name, Type: 'string' })),
          },
        },
      }),
    );
    // moto answers GetResourceLFTags with a 500 for a database or table that never carried an LF-tag: tag each
    // once and take the tag off again (as governance-lakeformation.test.ts does).
    const seed = { TagKey: uniqueName('moto_seed'), TagValues: ['x'] };
    await lakeFormation.send(new CreateLFTagCommand(seed));
    for (const resource of [
      { Database: { Name: glueDatabase } },
      { Table: { DatabaseName: glueDatabase, Name: 'public__orders' } },
    ]) {
      await lakeFormation.send(new AddLFTagsToResourceCommand({ Resource: resource, LFTags: [seed] }));
      await lakeFormation.send(new RemoveLFTagsFromResourceCommand({ Resource: resource, LFTags: [seed] }));
    }
    await registerLake(registry, config, { database: 'shop', location: dir, tables: [orders] }, who);
    // What the stream records when it follows `ALTER TABLE orders ADD COLUMN discount` under new_columns: hidden.
    await recordColumnChanges(
      registry,
      'shop',
      'public.orders',
      1,
      [{ kind: 'add', column: 'discount', fieldId: 3 }],
      'hidden',
    );
  });

  after(async () => {
    await registry.close();
    dynamo.destroy();
    glue.destroy();
    lakeFormation.destroy();
  });

  it('no LF grant admits the column until acl set classifies it', async () => {
    const synced = await reconcileLakeFormation(config, registry, 'shop', { heal: true, change: who, clients });
    assert.equal(driftCount(synced), 0);
    assert.deepEqual(await lfTagsOnDiscount(), [
      `domain=${HIDDEN_IN_LAKE_FORMATION}`,
      'pgcdc.unclassified=new-column',
      `sensitivity=${HIDDEN_IN_LAKE_FORMATION}`,
    ]);
    // Lake Formation's own rule, as Athena applies it: the table's other columns stay readable.
    for (const principal of Object.values(principals)) {
      assert.deepEqual((await lakeFormationAccess(clients, principal)).get('public.orders'), ['id', 'amount']);
    }
    const engine = openAccessPolicy(config, { registry, database: 'shop' });
    try {
      assert.deepEqual(shown(await engine.decide('analyst', shapes)), ['id', 'amount'], 'the engine, from LF');
      assert.deepEqual(shown(await engine.decide('finance', shapes)), ['id', 'amount']);

      // `acl set` classifies it: the marker goes, and the next sync takes the values that hid it off.
      await registry.setTags(r('shop.public.orders.discount'), { set: { sensitivity: 'confidential' } }, who);
      const drift = await reconcileLakeFormation(config, registry, 'shop', { heal: false, change: who, clients });
      assert.deepEqual(
        drift.tags.drift.map((d) => [d.target, d.add, d.remove]),
        [
          [
            `${glueDatabase}.public__orders.discount`,
            { sensitivity: 'confidential' },
            {
              domain: HIDDEN_IN_LAKE_FORMATION,
              'pgcdc.unclassified': 'new-column',
              sensitivity: HIDDEN_IN_LAKE_FORMATION,
            },
          ],
        ],
      );
      await reconcileLakeFormation(config, registry, 'shop', { heal: true, change: who, clients });
      assert.deepEqual(await lfTagsOnDiscount(), ['sensitivity=confidential']);
      assert.deepEqual((await lakeFormationAccess(clients, principals.finance)).get('public.orders'), [
        'id',
        'amount',
        'discount',
      ]);
      assert.deepEqual(
        (await lakeFormationAccess(clients, principals.analyst)).get('public.orders'),
        ['id', 'amount'],
        'classified confidential: still not for analyst, now by its tags',
      );
      assert.deepEqual(shown(await engine.decide('finance', shapes)), ['id', 'amount', 'discount']);
    } finally {
      await engine.close();
    }
  });
});
