/**
 * A break-glass grant with `governance.catalog: glue`: BreakGlassWorkflow, on a worker in this process (shared
 * Temporal, DynamoDB registry and Lake Formation on moto), grants the role's IAM principal the column in Lake
 * Formation beside the registry, and revokes it there at the TTL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { CreateDatabaseCommand, CreateTableCommand, GlueClient } from '@aws-sdk/client-glue';
import { LakeFormationClient, paginateListPermissions } from '@aws-sdk/client-lakeformation';
import { createActivities } from '../../activities/index.js';
import { parseConfig } from '../../core/config/index.js';
import { silentLogger } from '../../core/log/index.js';
import { workflowIds } from '../../core/temporal/index.js';
import { Registry } from '../../governance/registry.js';
import { connectWorker } from '../../workers/connection.js';
import { bundleWorkflows, createWorker } from '../../workers/worker.js';
import type { BreakGlassInput, BreakGlassResult } from '../../workflows/breakglass-messages.js';
import { motoEndpoint, sharedTemporal, tempDir, uniqueName } from '../support/stack.js';

const moto = motoEndpoint();

describe('break-glass grants in Lake Formation', { skip: moto.skip }, () => {
  const temporal = sharedTemporal();
  const aws = {
    endpoint: moto.endpoint ?? 'http://127.0.0.1:1',
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
  const glue = new GlueClient(aws);
  const lakeFormation = new LakeFormationClient(aws);
  const glueDatabase = uniqueName('bg_lake');
  const principalArn = `arn:aws:iam::123456789012:role/${uniqueName('support')}`;
  const taskQueue = uniqueName('bg_lf');
  let client: Client;
  let nativeConnection: NativeConnection;

  /** The column grants Lake Formation holds for the principal, as `table.column`. */
  const columnGrants = async (): Promise<string[]> => {
    const out: string[] = [];
    for await (const page of paginateListPermissions({ client: lakeFormation }, {})) {
      for (const entry of page.PrincipalResourcePermissions ?? []) {
        const columns = entry.Resource?.TableWithColumns;
        if (entry.Principal?.DataLakePrincipalIdentifier !== principalArn || !columns) continue;
        if (columns.DatabaseName !== glueDatabase) continue;
        for (const column of columns.ColumnNames ?? []) out.push(`${columns.Name}.${column}`);
      }
    }
    return out;
  };

  before(async () => {
    // The worker's AWS clients take the default credential chain.
    process.env.AWS_ACCESS_KEY_ID ??= 'testing';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
    await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: glueDatabase } }));
    await glue.send(
      new CreateTableCommand({
        DatabaseName: glueDatabase,
        TableInput: {
          Name: 'public__customers',
          Parameters: { 'pgcdc.identifier': 'public.customers' },
          StorageDescriptor: { Columns: ['id', 'email'].map((name) => ({ Name: name, Type: 'string' })) },
        },
      }),
    );
    client = new Client({
      connection: await Connection.connect({ address: temporal.address }),
      namespace: temporal.namespace,
    });
    nativeConnection = await connectWorker(
      {
        address: temporal.address,
        namespace: temporal.namespace,
        taskQueue,
        uiUrl: undefined,
        embedded: undefined,
        connectionOptions: { address: temporal.address },
      },
      silentLogger,
    );
  });

  after(async () => {
    glue.destroy();
    lakeFormation.destroy();
    await client?.connection.close();
    await nativeConnection?.close();
  });

  it('appears in Lake Formation with the registry grant and is revoked there at its TTL', async () => {
    const config = parseConfig(
      [
        `state_dir: ${tempDir('pg-cdc-bg-lf-')}`,
        'source: { postgres: { url: postgresql://nobody@127.0.0.1:1/shop } }',
        'storage: { type: s3, bucket: lake, region: us-east-1 }',
        'catalog:',
        '  type: iceberg',
        `  database: ${glueDatabase}`,
        `  endpoint: ${aws.endpoint}`,
        '  region: us-east-1',
        `  acl_table: ${uniqueName('acl').replace(/_/g, '-')}`,
        'governance:',
        '  catalog: glue',
        '  registry: dynamodb',
        `  roles: { support: { grant: "domain = crm", principal_arn: "${principalArn}" } }`,
      ].join('\n'),
    );
    const worker = await createWorker({
      connection: nativeConnection,
      namespace: temporal.namespace,
      taskQueue,
      // The break-glass activities never open the lake, and this version opens no lake on S3.
      activities: createActivities({
        config,
        sourceUrl: '',
        log: silentLogger,
        lake: () => Promise.reject(new Error('no lake in this test')),
      }),
      log: silentLogger,
      workflowBundle: await bundleWorkflows(),
    });
    const running = worker.run();
    const registry = Registry.forConfig(config);
    try {
      const resource = 'shop.public.customers.email';
      const input: BreakGlassInput = { principal: 'support', resource, ttl: '4s', reason: 'INC-9', actor: 'oncall' };
      const handle = await client.workflow.start('breakGlassWorkflow', {
        workflowId: `${workflowIds.breakGlass('support', resource)}:${taskQueue}`,
        taskQueue,
        args: [input],
      });
      const deadline = Date.now() + 20_000;
      while ((await columnGrants()).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(await columnGrants(), ['public__customers.email'], 'granted in Lake Formation');
      assert.equal((await registry.grants.active('support')).length, 1, 'and in the registry');

      const result = (await handle.result()) as BreakGlassResult;
      assert.equal(result.ended?.how, 'expired');
      assert.deepEqual(await columnGrants(), [], 'revoked in Lake Formation at the TTL');
      assert.deepEqual(
        (await registry.audit({ principal: 'support' })).map((entry) => entry.action),
        ['grant', 'expire'],
      );
    } finally {
      await registry.close();
      worker.shutdown();
      await running;
    }
  });
});
