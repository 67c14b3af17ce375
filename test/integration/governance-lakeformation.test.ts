/**
 * Lake Formation enforcement against moto: the worked example of docs/governance.md on a DynamoDB registry, its
 * LF-tags and role grants synced into Lake Formation, gives the same access map as the local backend; drift
 * injected in Lake Formation is found and healed, and audited. The Glue tables are made here as the Glue catalog
 * registers them (a `pgcdc.identifier` parameter, lower-case columns).
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
  RevokePermissionsCommand,
} from '@aws-sdk/client-lakeformation';
import { parseConfig, type PgCdcConfig } from '../../core/config/index.js';
import { processRegistry } from '../../core/metrics/index.js';
import { DynamoBackend } from '../../governance/backends/dynamodb.js';
import { registerLake, type LakeInventory } from '../../governance/intent.js';
import {
  driftCount,
  healedCount,
  lakeFormationAccess,
  reconcileLakeFormation,
  type LakeFormationClients,
} from '../../governance/lakeformation/index.js';
import { openAccessPolicy } from '../../governance/policy.js';
import type { AccessDecision } from '../../governance/types.js';
import { Registry } from '../../governance/registry.js';
import { parseResource as r } from '../../governance/resource.js';
import { motoEndpoint, tempDir, uniqueName } from '../support/stack.js';

/** This process's value of an ACL drift family for Lake Formation. */
async function lakeFormationSample(name: 'pgcdc_acl_drift' | 'pgcdc_acl_drift_healed_total'): Promise<number> {
  const family = await processRegistry.getSingleMetric(name)?.get();
  return family?.values.find((v) => v.labels.target === 'lakeformation')?.value ?? 0;
}

const moto = motoEndpoint();
const aws = {
  endpoint: moto.endpoint ?? 'http://127.0.0.1:1',
  region: 'us-east-1',
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
};
const who = { actor: 'alice', reason: 'worked example' };
const SEED = { TagKey: uniqueName('moto_seed'), TagValues: ['x'] };
const arn = (role: string): string => `arn:aws:iam::123456789012:role/${uniqueName(role)}`;

const TABLES = {
  'public.customers': ['id', 'name', 'email'],
  'public.orders': ['id', 'customer_id', 'amount'],
  'public.page_views': ['url', 'seen_at'],
} as const;

const inventory = (dir: string): LakeInventory => ({
  database: 'shop',
  location: dir,
  tables: Object.entries(TABLES).map(([identifier, columns]) => {
    const [schema, table] = identifier.split('.') as [string, string];
    return { identifier, schema, table, columns: [...columns] };
  }),
});

/** The worked example's pg-cdc.yml, with the roles given; on S3 + Glue + DynamoDB + Lake Formation. */
function exampleConfig(glueDatabase: string, roles: Record<string, { grant: string; principal_arn: string }>) {
  const dir = tempDir('pg-cdc-lf-');
  const yaml = [
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
    "    'public.customers': { domain: crm, sensitivity: pii }",
    'governance:',
    '  catalog: glue',
    '  registry: dynamodb',
    '  roles:',
    ...Object.entries(roles).map(
      ([name, role]) => `    ${name}: { grant: ${JSON.stringify(role.grant)}, principal_arn: ${role.principal_arn} }`,
    ),
  ].join('\n');
  return { config: parseConfig(yaml), dir };
}

/** The classification of the worked example: register, then two `acl set`. */
async function classify(registry: Registry, config: PgCdcConfig, dir: string): Promise<void> {
  await registerLake(registry, config, inventory(dir), who);
  await registry.setTags(r('shop.public.orders.amount'), { set: { sensitivity: 'confidential' } }, who);
  await registry.setTags(r('shop.public.customers.id'), { set: { sensitivity: 'internal' } }, who);
}

describe('Lake Formation enforcement on moto', { skip: moto.skip }, () => {
  const dynamo = new DynamoDBClient(aws);
  const glue = new GlueClient(aws);
  const lakeFormation = new LakeFormationClient(aws);
  const glueDatabase = uniqueName('shop_lake');
  const clients: LakeFormationClients = { lakeFormation, glue, database: glueDatabase };
  const principals = { analyst: arn('analyst'), support: arn('support'), finance: arn('finance') };
  const roles = {
    analyst: { grant: 'sensitivity in [public, internal]', principal_arn: principals.analyst },
    support: { grant: 'domain = crm', principal_arn: principals.support },
    // The example's `domain = sales and sensitivity != pii`, in terms Lake Formation can express.
    finance: {
      grant: 'domain = sales and sensitivity in [public, internal, confidential]',
      principal_arn: principals.finance,
    },
  };

  before(async () => {
    // The engine's Lake Formation clients take the default credential chain.
    process.env.AWS_ACCESS_KEY_ID ??= 'testing';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
    await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: glueDatabase } }));
    for (const [identifier, columns] of Object.entries(TABLES)) {
      await glue.send(
        new CreateTableCommand({
          DatabaseName: glueDatabase,
          TableInput: {
            Name: identifier.replace('.', '__'),
            Parameters: { 'pgcdc.identifier': identifier, table_type: 'ICEBERG' },
            StorageDescriptor: { Columns: columns.map((name) => ({ Name: name, Type: 'string' })) },
          },
        }),
      );
    }
  });
  // moto 5.2.5 answers GetResourceLFTags with a 500 for a database or table that never carried an LF-tag (AWS
  // answers with no tags): tag each once and take the tag off again, so that moto knows them.
  before(async () => {
    await lakeFormation.send(new CreateLFTagCommand({ TagKey: SEED.TagKey, TagValues: SEED.TagValues }));
    const resources = [
      { Database: { Name: glueDatabase } },
      ...Object.keys(TABLES).map((identifier) => ({
        Table: { DatabaseName: glueDatabase, Name: identifier.replace('.', '__') },
      })),
    ];
    for (const resource of resources) {
      await lakeFormation.send(new AddLFTagsToResourceCommand({ Resource: resource, LFTags: [SEED] }));
      await lakeFormation.send(new RemoveLFTagsFromResourceCommand({ Resource: resource, LFTags: [SEED] }));
    }
  });
  after(() => {
    dynamo.destroy();
    glue.destroy();
    lakeFormation.destroy();
  });

  it('refuses a grant Lake Formation cannot express, naming the role and the expression', async () => {
    const { config } = exampleConfig(glueDatabase, {
      ...roles,
      finance: { grant: 'domain = sales and sensitivity != pii', principal_arn: principals.finance },
    });
    const registry = new Registry(new DynamoBackend(dynamo, config.catalog.acl_table!));
    await assert.rejects(
      reconcileLakeFormation(config, registry, 'shop', { heal: true, change: who, clients }),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'GRANT_NOT_EXPRESSIBLE');
        assert.match(error.message, /role "finance".*sensitivity != pii.*negation/);
        return true;
      },
    );
    assert.equal(await registry.policyVersion(), 0, 'refused before anything changed');
    await registry.close();
  });

  it('the worked example on DynamoDB + Lake Formation gives the local backend’s access map; drift is found and healed', async () => {
    const { config, dir } = exampleConfig(glueDatabase, roles);
    const registry = new Registry(new DynamoBackend(dynamo, config.catalog.acl_table!));
    await classify(registry, config, dir);

    const healedBefore = await lakeFormationSample('pgcdc_acl_drift_healed_total');
    const found = await reconcileLakeFormation(config, registry, 'shop', { heal: false, change: who, clients });
    assert.ok(found.tags.drift.length > 0, 'nothing is tagged in Lake Formation yet');
    assert.equal(found.grants.length, 3, 'no role holds its grant yet');
    assert.equal(await lakeFormationSample('pgcdc_acl_drift'), found.tags.drift.length + 3);
    const synced = await reconcileLakeFormation(config, registry, 'shop', { heal: true, change: who, clients });
    assert.equal(healedCount(synced), found.tags.drift.length + 3);
    assert.equal(driftCount(synced), 0);
    assert.equal(await lakeFormationSample('pgcdc_acl_drift'), 0);
    assert.equal(await lakeFormationSample('pgcdc_acl_drift_healed_total'), healedBefore + healedCount(synced));
    const onCustomers = await lakeFormation.send(
      new GetResourceLFTagsCommand({
        Resource: { Table: { DatabaseName: glueDatabase, Name: 'public__customers' } },
        ShowAssignedLFTags: true,
      }),
    );
    assert.deepEqual((onCustomers.LFTagsOnTable ?? []).map((t) => `${t.TagKey}=${t.TagValues?.join('|')}`).sort(), [
      'domain=crm',
      'sensitivity=pii',
    ]);

    // The same map from the local backend (SQLite) and from Lake Formation's own rules.
    const local = Registry.open(`${dir}/governance.sqlite`);
    await classify(local, config, dir);
    const policy = openAccessPolicy(
      { ...config, governance: { ...config.governance, catalog: 'local' } },
      { registry: local, database: 'shop' },
    );
    // Query-time enforcement from Lake Formation: the engine's policy with governance.catalog: glue.
    const fromLakeFormation = openAccessPolicy(config, { registry, database: 'shop' });
    const shapes = inventory(dir).tables.flatMap((t) => [
      { identifier: t.identifier, columns: t.columns },
      { identifier: `${t.identifier}__changes`, columns: ['_op', '_seq', '_commit_lsn', ...t.columns] },
    ]);
    const shown = (decision: AccessDecision): Record<string, string[]> =>
      Object.fromEntries([...decision.tables].map(([table, grant]) => [table, [...grant.columns]]));
    const withoutChangelogs = (map: Record<string, string[]>) =>
      Object.fromEntries(Object.entries(map).filter(([table]) => !table.endsWith('__changes')));
    const expected = {
      analyst: {
        'public.customers': ['id'],
        'public.orders': ['id', 'customer_id'],
        'public.page_views': ['url', 'seen_at'],
      },
      support: { 'public.customers': ['id', 'name', 'email'] },
      finance: { 'public.orders': ['id', 'customer_id', 'amount'], 'public.page_views': ['url', 'seen_at'] },
    };
    for (const [role, map] of Object.entries(expected)) {
      const fromLocal = shown(await policy.decide(role, shapes));
      assert.deepEqual(
        withoutChangelogs(fromLocal),
        map,
        `${role}: the local backend gives docs/governance.md's table`,
      );
      assert.deepEqual(shown(await fromLakeFormation.decide(role, shapes)), fromLocal, `${role}: decided from LF`);
      const fromLf = Object.fromEntries(
        await lakeFormationAccess(clients, principals[role as keyof typeof principals]),
      );
      assert.deepEqual(fromLf, map, `${role}: Lake Formation gives the same`);
    }
    await policy.close();
    await local.close();
    const analystBefore = shown(await fromLakeFormation.decide('analyst', shapes));

    // Drift injected in Lake Formation: a column tag added by hand, a table tag removed, a grant revoked.
    const email = {
      TableWithColumns: { DatabaseName: glueDatabase, Name: 'public__customers', ColumnNames: ['email'] },
    };
    await lakeFormation.send(
      new AddLFTagsToResourceCommand({ Resource: email, LFTags: [{ TagKey: 'sensitivity', TagValues: ['public'] }] }),
    );
    await lakeFormation.send(
      new RemoveLFTagsFromResourceCommand({
        Resource: { Table: { DatabaseName: glueDatabase, Name: 'public__orders' } },
        LFTags: [{ TagKey: 'domain', TagValues: ['sales'] }],
      }),
    );
    await lakeFormation.send(
      new RevokePermissionsCommand({
        Principal: { DataLakePrincipalIdentifier: principals.support },
        Resource: {
          LFTagPolicy: { ResourceType: 'TABLE', Expression: [{ TagKey: 'domain', TagValues: ['crm'] }] },
        },
        Permissions: ['SELECT', 'DESCRIBE'],
      }),
    );
    assert.deepEqual((await lakeFormationAccess(clients, principals.analyst)).get('public.customers'), ['id', 'email']);
    // The engine decides from its snapshot of Lake Formation until policy_version moves (or 5 minutes pass).
    assert.deepEqual(shown(await fromLakeFormation.decide('analyst', shapes)), analystBefore, 'cached');
    await registry.setTags(r('shop.public.page_views.url'), { set: { note: 'moves policy_version' } }, who);
    assert.deepEqual(
      shown(await fromLakeFormation.decide('analyst', shapes))['public.customers'],
      ['id', 'email'],
      'read again once policy_version moved: Lake Formation now lets analyst read email',
    );

    const drift = await reconcileLakeFormation(config, registry, 'shop', { heal: false, change: who, clients });
    assert.deepEqual(
      drift.tags.drift.map((d) => [d.target, d.add, d.remove]),
      [
        [`${glueDatabase}.public__customers.email`, {}, { sensitivity: 'public' }],
        [`${glueDatabase}.public__orders`, { domain: 'sales' }, {}],
        [`${glueDatabase}.public__page_views.url`, { note: 'moves policy_version' }, {}],
      ],
    );
    assert.deepEqual(
      drift.grants.map((g) => [g.role, g.missing.length, g.extra.length]),
      [['support', 1, 0]],
    );
    const versionBefore = await registry.policyVersion();
    const healed = await reconcileLakeFormation(config, registry, 'shop', {
      heal: true,
      change: { actor: 'pg-cdc', reason: 'acl sync' },
      clients,
    });
    assert.equal(healedCount(healed), 4);
    assert.equal(driftCount(healed), 0);
    // Healing moved policy_version (the lf-sync audit entries): the engine reads Lake Formation, back as it was.
    assert.deepEqual(shown(await fromLakeFormation.decide('analyst', shapes)), analystBefore);
    await fromLakeFormation.close();
    assert.deepEqual((await lakeFormationAccess(clients, principals.analyst)).get('public.customers'), ['id']);
    assert.deepEqual((await lakeFormationAccess(clients, principals.support)).get('public.customers'), [
      'id',
      'name',
      'email',
    ]);
    const audit = (await registry.audit()).filter((entry) => entry.policyVersion > versionBefore);
    assert.deepEqual(
      audit.map((entry) => [entry.action, entry.resource, entry.principal]),
      [
        ['lf-sync', 'shop.public.customers.email', null],
        ['lf-sync', 'shop.public.orders', null],
        ['lf-sync', 'shop.public.page_views.url', null],
        ['lf-sync', 'shop', 'support'],
      ],
    );
    assert.deepEqual(audit[0]!.before, { lakeFormation: { sensitivity: 'public' } });
    await registry.close();
  });
});
