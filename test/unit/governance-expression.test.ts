import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../core/config/index.js';
import { ConfigError } from '../../core/errors/index.js';
import {
  evaluateTagExpression,
  expressionKeys,
  formatTagExpression,
  parseTagExpression,
  TagExpressionError,
} from '../../governance/expression.js';
import { compileRoles, requireRole } from '../../governance/roles.js';

const matches = (expression: string, tags: Record<string, string>): boolean =>
  evaluateTagExpression(parseTagExpression(expression), tags);

function expectError(expression: string, position: number, reason: RegExp): void {
  assert.throws(
    () => parseTagExpression(expression),
    (error: unknown) => {
      assert.ok(error instanceof TagExpressionError, String(error));
      assert.equal(error.code, 'GRANT_EXPRESSION_INVALID');
      assert.equal(error.position, position, `position of the error in ${JSON.stringify(expression)}`);
      assert.match(error.reason, reason);
      return true;
    },
  );
}

describe('tag expressions: parsing', () => {
  it('parses comparisons, lists, has, not, and/or with and binding tighter', () => {
    assert.deepEqual(parseTagExpression('sensitivity in [public, internal]'), {
      op: 'in',
      key: 'sensitivity',
      values: ['public', 'internal'],
    });
    assert.deepEqual(parseTagExpression('a = 1 or b = 2 and c != 3'), {
      op: 'or',
      terms: [
        { op: 'eq', key: 'a', value: '1' },
        {
          op: 'and',
          terms: [
            { op: 'eq', key: 'b', value: '2' },
            { op: 'ne', key: 'c', value: '3' },
          ],
        },
      ],
    });
    assert.deepEqual(parseTagExpression('NOT has pii'), { op: 'not', term: { op: 'has', key: 'pii' } });
    assert.deepEqual(parseTagExpression("owner not in ['team a', \"it's\"]"), {
      op: 'not-in',
      key: 'owner',
      values: ['team a', "it's"],
    });
    assert.deepEqual(parseTagExpression('"in" = \'and\''), { op: 'eq', key: 'in', value: 'and' });
    assert.deepEqual(parseTagExpression('k in [a, b,]'), { op: 'in', key: 'k', values: ['a', 'b'] });
  });

  it('prints a canonical form that parses back to the same tree', () => {
    for (const text of [
      'domain = sales and sensitivity != pii',
      '(a = 1 or b = 2) and not (c in [x, y] or has d)',
      "'team lead' = 'o''brien' or region not in [eu-west-1, 'us east']",
      'not not a = b',
    ]) {
      const tree = parseTagExpression(text);
      const printed = formatTagExpression(tree);
      assert.deepEqual(parseTagExpression(printed), tree, printed);
    }
    assert.equal(formatTagExpression(parseTagExpression('(a=1 or b=2)   and c=3')), '(a = 1 or b = 2) and c = 3');
    assert.deepEqual(expressionKeys(parseTagExpression('b = 1 and (a in [x] or not has b)')), ['a', 'b']);
  });

  it('names the position and what was expected for every kind of mistake', () => {
    expectError('', 1, /empty/);
    expectError('sensitivity in public', 16, /expected "\[" to start a list after "in", found "public"/);
    expectError('sensitivity =', 14, /expected a value after "=", found the end/);
    expectError('a = 1 and', 10, /expected a tag key/);
    expectError('a = 1 b = 2', 7, /expected "and", "or" or the end of the expression, found "b"/);
    expectError('(a = 1', 7, /expected "\)" to close the "\(" at position 1/);
    expectError('a ! b', 3, /!=/);
    expectError('a = "open', 5, /not closed/);
    expectError('a in [x y]', 9, /expected "," or "\]"/);
    expectError('in = x', 1, /keyword "in" \(quote it/);
    expectError('a < 3', 3, /unexpected character "<"/);
    expectError('a not b', 7, /expected "in" after "a not"/);
    expectError('a', 2, /expected =, !=, in or not in after the key "a"/);
  });
});

describe('tag expressions: evaluation', () => {
  const pii = { sensitivity: 'pii', domain: 'sales' };
  const internal = { sensitivity: 'internal', domain: 'sales' };

  it('compares values exactly', () => {
    assert.equal(matches('sensitivity in [public, internal]', internal), true);
    assert.equal(matches('sensitivity in [public, internal]', pii), false);
    assert.equal(matches('domain = sales and sensitivity != pii', internal), true);
    assert.equal(matches('domain = sales and sensitivity != pii', pii), false);
    assert.equal(matches('domain = Sales', internal), false);
    assert.equal(matches('domain = marketing or sensitivity = pii', pii), true);
    assert.equal(matches('has domain and not sensitivity in [pii]', internal), true);
  });

  it('treats a comparison on a missing key as false, != and not in included', () => {
    const untaggedSensitivity = { domain: 'sales' };
    assert.equal(matches('sensitivity != pii', untaggedSensitivity), false);
    assert.equal(matches('sensitivity not in [pii]', untaggedSensitivity), false);
    assert.equal(matches('domain = sales and sensitivity != pii', untaggedSensitivity), false);
    // `not` negates the whole comparison, so it does admit the missing key: the documented difference.
    assert.equal(matches('not sensitivity = pii', untaggedSensitivity), true);
    assert.equal(matches('has sensitivity', untaggedSensitivity), false);
  });
});

describe('roles', () => {
  const config = (roles: string): ReturnType<typeof parseConfig> =>
    parseConfig(`source:\n  postgres:\n    url: postgresql://u@h/db\ngovernance:\n  roles:\n${roles}`);

  it('compiles every role and rejects an unknown principal with the list of roles', () => {
    const roles = compileRoles(
      config(
        '    analyst:\n      grant: "sensitivity in [public, internal]"\n      description: not PII\n    support:\n      grant: "has domain"\n',
      ).governance,
    );
    assert.deepEqual([...roles.keys()], ['analyst', 'support']);
    assert.equal(requireRole(roles, 'analyst').description, 'not PII');
    assert.throws(
      () => requireRole(roles, 'intern'),
      (error: unknown) =>
        (error as { code: string }).code === 'PRINCIPAL_UNKNOWN' &&
        /analyst, support/.test((error as { hint: string }).hint),
    );
  });

  it('reports every invalid grant as a configuration error naming the role, key and position', () => {
    const governance = config(
      '    analyst:\n      grant: "sensitivity in public"\n    ok:\n      grant: "a = b"\n    "ops.team":\n      grant: "a ="\n',
    ).governance;
    assert.throws(
      () => compileRoles(governance),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(
          error.issues.map((issue) => issue.path),
          ['governance.roles.analyst.grant', 'governance.roles["ops.team"].grant'],
        );
        assert.match(error.issues[0]!.message, /role "analyst": .*expected "\[".* at position 16/);
        assert.match(error.issues[1]!.message, /role "ops.team": .*at position 4/);
        assert.match(error.describe(), /fix: write comparisons key = value/);
        return true;
      },
    );
  });
});
