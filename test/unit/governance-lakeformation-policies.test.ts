import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../core/config/index.js';
import { parseTagExpression } from '../../governance/expression.js';
import { planRoleGrants, policyKey, tagPolicies } from '../../governance/lakeformation/index.js';

const policies = (grant: string): string[] =>
  tagPolicies({ name: 'r', grant: parseTagExpression(grant) }).map(policyKey);

describe('role grants as Lake Formation LF-tag policies', () => {
  it('turns =, in and and into one conjunction, and or into one policy per disjunct', () => {
    assert.deepEqual(policies('sensitivity in [public, internal]'), ['sensitivity in [internal, public]']);
    assert.deepEqual(policies('domain = sales and sensitivity in [public, internal]'), [
      'domain in [sales] and sensitivity in [internal, public]',
    ]);
    assert.deepEqual(policies('(domain = crm or domain = sales) and sensitivity = public'), [
      'domain in [crm] and sensitivity in [public]',
      'domain in [sales] and sensitivity in [public]',
    ]);
    assert.deepEqual(policies('a in [x, y] and a in [y, z]'), ['a in [y]'], 'one key twice: the values in common');
    assert.deepEqual(policies('a = x or a = x'), ['a in [x]'], 'the same policy once');
  });

  it('refuses negations, has, and a conjunction that admits nothing, naming the role and the expression', () => {
    for (const [grant, reason] of [
      ['domain = sales and sensitivity != pii', /"!=" on sensitivity is a negation/],
      ['sensitivity not in [pii]', /"not in" on sensitivity is a negation/],
      ['not domain = crm', /"not" is a negation/],
      ['has sensitivity', /"has sensitivity" admits any value/],
      ['a = x and a = y', /no value in common/],
      ['sensitivity in [public, pgcdc.unclassified]', /names pgcdc.unclassified, the value that keeps unclassified/],
    ] as const) {
      assert.throws(
        () => tagPolicies({ name: 'finance', grant: parseTagExpression(grant) }),
        (error: Error & { code?: string; hint?: string }) => {
          assert.equal(error.code, 'GRANT_NOT_EXPRESSIBLE');
          assert.match(error.message, /^role "finance": Lake Formation cannot express/);
          assert.match(error.message, reason);
          assert.match(error.hint ?? '', /conjunctions of key IN values/);
          return true;
        },
        grant,
      );
    }
  });

  it('plans the roles with principal_arn only, and names every refused role at once', () => {
    const config = (finance: string) =>
      parseConfig(
        [
          'source: { postgres: { url: postgresql://u@h/shop } }',
          'governance:',
          '  roles:',
          '    analyst: { grant: "sensitivity in [public]", principal_arn: "arn:aws:iam::1:role/analyst" }',
          '    local_only: { grant: "sensitivity != pii" }',
          `    finance: { grant: "${finance}", principal_arn: "arn:aws:iam::1:role/finance" }`,
          '    ops: { grant: "has owner", principal_arn: "arn:aws:iam::1:role/ops" }',
        ].join('\n'),
      );
    assert.throws(
      () => planRoleGrants(config('domain = sales and sensitivity != pii')),
      (error: Error) => {
        assert.match(error.message, /role "finance".*; role "ops"/);
        return true;
      },
    );
    const ok = parseConfig(
      [
        'source: { postgres: { url: postgresql://u@h/shop } }',
        'governance:',
        '  roles:',
        '    analyst: { grant: "sensitivity in [public]", principal_arn: "arn:aws:iam::1:role/analyst" }',
        '    local_only: { grant: "sensitivity != pii" }',
      ].join('\n'),
    );
    assert.deepEqual(
      planRoleGrants(ok).map((plan) => [plan.role, plan.principal, plan.policies.map(policyKey)]),
      [['analyst', 'arn:aws:iam::1:role/analyst', ['sensitivity in [public]']]],
    );
  });
});
