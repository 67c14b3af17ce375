/**
 * GET /v1/catalog under real governance: a changelog shows exactly the columns the lake's contract calls change
 * metadata plus the row columns of visible source columns. A source column whose name starts with `_` is a row
 * column like any other, never metadata because of its name.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildHttpApp, createServeRuntime } from '../../api/serve.js';
import { catalogOutput } from '../../api/schemas/console.js';
import { silentLogger } from '../../core/log/index.js';
import { openAccessPolicy, type GovernedAccessPolicy } from '../../governance/policy.js';
import { Registry } from '../../governance/registry.js';
import { parseResource as r } from '../../governance/resource.js';
import type { IcebergField } from '../../core/types/iceberg.js';
import { changelogSchema } from '../../lake/contract/index.js';
import { buildFixture, configFor, FixtureEngine, FixturePolicy, TOKENS, type Fixture } from './api-fixture.js';

const PEOPLE: IcebergField[] = [
  { id: 1, name: 'id', type: 'int', required: true },
  { id: 2, name: 'name', type: 'string', required: false },
  { id: 3, name: '_internal', type: 'string', required: false },
];
const CHANGELOG = changelogSchema({ type: 'struct', 'schema-id': 0, fields: PEOPLE }).fields;

describe('GET /v1/catalog with governance', () => {
  let fixture: Fixture;
  let registry: Registry;
  let policy: GovernedAccessPolicy;
  let app: FastifyInstance;

  before(async () => {
    fixture = await buildFixture();
    const state = await fixture.table('public.people', 'public/people', PEOPLE, 2);
    const changes = await fixture.table('public.people__changes', 'public/people__changes', CHANGELOG, 1);
    await fixture.commit({
      'public.people': {
        state,
        changes,
        columns: PEOPLE.map((f) => f.name),
        primary_key: ['id'],
        row_count: 2,
        epoch: 1,
        committed_lsn: '0/1000',
        schema_version: 0,
      },
    });
    // `restricted` may not see `_internal`; `analyst` sees every column.
    const config = configFor(
      fixture.root,
      [
        `state_dir: ${fixture.root}/state`,
        'governance:',
        '  roles:',
        '    analyst: { grant: "sensitivity in [internal, secret]" }',
        '    restricted: { grant: "sensitivity = internal" }',
      ].join('\n'),
    );
    registry = Registry.forConfig(config);
    const who = { actor: 'test', reason: 'catalog visibility' };
    await registry.register(r('shop.public.people'), { sensitivity: 'internal' }, who);
    await registry.register(r('shop.public.people._internal'), { sensitivity: 'secret' }, who);
    policy = openAccessPolicy(config, { registry, database: 'shop' });
    const runtime = createServeRuntime({
      config,
      log: silentLogger,
      version: '9.9.9',
      engine: new FixtureEngine(new FixturePolicy()),
      policy,
    });
    app = await buildHttpApp(runtime, '127.0.0.1');
  });
  after(async () => {
    await app.close();
    await policy.close();
    await registry.close();
    fixture.cleanup();
  });

  const columnsOf = async (principal: keyof typeof TOKENS): Promise<Record<string, string[]>> => {
    const response = await app.inject({
      method: 'GET',
      url: '/v1/catalog',
      headers: { authorization: `Bearer ${TOKENS[principal]}` },
    });
    assert.equal(response.statusCode, 200, response.body);
    const { tables } = catalogOutput.parse(response.json());
    return Object.fromEntries(tables.map((t) => [t.identifier, t.columns.map((c) => c.name)]));
  };

  it('hides a changelog row column starting with `_` from a role not granted its source column', async () => {
    assert.deepEqual(await columnsOf('restricted'), {
      'public.people': ['id', 'name'],
      // No `_internal`, and no `_unchanged_toast` either: it names columns, hidden ones too.
      'public.people__changes': ['_op', '_commit_lsn', '_commit_ts', '_xid', '_seq', 'id', 'name'],
    });
  });

  it('shows it, and the unchanged-TOAST list, to a role that sees every column', async () => {
    assert.deepEqual(await columnsOf('analyst'), {
      'public.people': ['id', 'name', '_internal'],
      'public.people__changes': CHANGELOG.map((f) => f.name),
    });
  });
});
