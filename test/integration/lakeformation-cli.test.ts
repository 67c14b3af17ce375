/**
 * Governance on AWS as an operator runs it: the lake on S3 (moto) with its tables in Glue, the registry in DynamoDB
 * and Lake Formation enforcing it. `init` registers the tables in Glue, `acl register` writes the intent to
 * DynamoDB, `acl sync` puts it into Lake Formation (exit 3: healed), `acl diff` then finds nothing (exit 0); drift
 * made by hand in Lake Formation is found (3), healed (3) and gone (0).
 */
import assert from 'node:assert/strict';
import { before, after, describe, it } from 'node:test';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { GetTablesCommand, GlueClient } from '@aws-sdk/client-glue';
import {
  AddLFTagsToResourceCommand,
  CreateLFTagCommand,
  GetResourceLFTagsCommand,
  LakeFormationClient,
  RemoveLFTagsFromResourceCommand,
} from '@aws-sdk/client-lakeformation';
import { runCli } from '../support/cli.js';
import { freshDatabase, motoEndpoint, uniqueName } from '../support/stack.js';
import { streamConfig } from '../support/stream.js';

const moto = motoEndpoint();
const REGION = 'us-east-1';
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: REGION };
Object.assign(process.env, CREDENTIALS);
const aws = { endpoint: moto.endpoint ?? 'http://127.0.0.1:1', region: REGION };

describe('acl diff and sync against Lake Formation, from the CLI', { skip: moto.skip }, () => {
  let config: ReturnType<typeof streamConfig>;
  const bucket = uniqueName('lfcli').replace(/_/g, '-');
  const glueDatabase = uniqueName('lf_cli_db');
  const lakeFormation = new LakeFormationClient(aws);
  const cli = (...args: string[]) => runCli(['--config', config.path, ...args], CREDENTIALS);
  const tagsOn = async (table: string): Promise<string[]> => {
    const found = await lakeFormation.send(
      new GetResourceLFTagsCommand({
        Resource: { Table: { DatabaseName: glueDatabase, Name: table } },
        ShowAssignedLFTags: true,
      }),
    );
    return (found.LFTagsOnTable ?? []).map((t) => `${t.TagKey}=${t.TagValues?.join('|')}`).sort();
  };

  before(async () => {
    const s3 = new S3Client({ ...aws, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    s3.destroy();
    const db = await freshDatabase('lf_cli');
    await db.sql(`
      CREATE TABLE lf_customers (id bigint PRIMARY KEY, email text);
      INSERT INTO lf_customers VALUES (1, 'a@x'), (2, 'b@x');
    `);
    config = streamConfig({
      url: db.url(),
      prefix: 'lf_cli',
      extra: [
        'storage:',
        '  type: s3',
        `  bucket: ${bucket}`,
        '  prefix: lake',
        `  endpoint: ${aws.endpoint}`,
        `  region: ${REGION}`,
        'catalog:',
        '  type: iceberg',
        `  database: ${glueDatabase}`,
        `  endpoint: ${aws.endpoint}`,
        `  region: ${REGION}`,
        `  acl_table: ${uniqueName('lf-acl').replace(/_/g, '-')}`,
        'tables:',
        '  include: ["public.lf_customers"]',
        '  tags:',
        '    "public.lf_customers": { domain: crm, sensitivity: pii }',
        'governance:',
        '  catalog: glue',
        '  registry: dynamodb',
        '  roles:',
        '    support: { grant: "domain = crm", principal_arn: "arn:aws:iam::123456789012:role/support" }',
      ],
    });
    const init = await cli('init');
    assert.equal(init.code, 0, init.stdout + init.stderr);
    // moto 5.2.5 answers GetResourceLFTags with a 500 for a resource that never carried an LF-tag (AWS answers
    // with none): tag the database and each table once and take the tag off again, so that moto knows them.
    const glue = new GlueClient(aws);
    const { TableList } = await glue.send(new GetTablesCommand({ DatabaseName: glueDatabase }));
    glue.destroy();
    const seed = { TagKey: uniqueName('moto_seed'), TagValues: ['x'] };
    await lakeFormation.send(new CreateLFTagCommand(seed));
    const resources = [
      { Database: { Name: glueDatabase } },
      ...(TableList ?? []).map((t) => ({ Table: { DatabaseName: glueDatabase, Name: t.Name! } })),
    ];
    for (const resource of resources) {
      await lakeFormation.send(new AddLFTagsToResourceCommand({ Resource: resource, LFTags: [seed] }));
      await lakeFormation.send(new RemoveLFTagsFromResourceCommand({ Resource: resource, LFTags: [seed] }));
    }
  });

  after(async () => {
    lakeFormation.destroy();
    await cli('teardown', '--yes', '--purge-storage');
  });

  it('syncs the intent into Lake Formation, and finds and heals drift made there', async () => {
    const register = await cli('acl', 'register');
    assert.equal(register.code, 0, register.stdout + register.stderr);
    const first = await cli('acl', 'sync');
    assert.equal(first.code, 3, `the first sync heals: ${first.stdout}${first.stderr}`);
    assert.deepEqual(await tagsOn('public__lf_customers'), ['domain=crm', 'sensitivity=pii']);
    const clean = await cli('acl', 'diff');
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);

    await lakeFormation.send(
      new RemoveLFTagsFromResourceCommand({
        Resource: { Table: { DatabaseName: glueDatabase, Name: 'public__lf_customers' } },
        LFTags: [{ TagKey: 'sensitivity', TagValues: ['pii'] }],
      }),
    );
    const drift = await cli('acl', 'diff');
    assert.equal(drift.code, 3, drift.stdout + drift.stderr);
    assert.match(drift.stdout, /sensitivity/);
    const healed = await cli('acl', 'sync');
    assert.equal(healed.code, 3, healed.stdout + healed.stderr);
    assert.deepEqual(await tagsOn('public__lf_customers'), ['domain=crm', 'sensitivity=pii']);
    const after = await cli('acl', 'diff');
    assert.equal(after.code, 0, after.stdout + after.stderr);
  });
});
