import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compileTableGlob,
  identityBlocked,
  matchesTableGlob,
  quoteIdent,
  quoteQualified,
  resolveTags,
  selectTables,
  type SelectionInput,
  type TableInfo,
} from '../../core/selection/index.js';

const table = (qualified: string, extra: Partial<TableInfo> = {}): TableInfo => {
  const dot = qualified.indexOf('.');
  return {
    schema: qualified.slice(0, dot),
    name: qualified.slice(dot + 1),
    hasPrimaryKey: true,
    replicaIdentity: 'default',
    kind: 'table',
    ...extra,
  };
};

const rules = (extra: Partial<SelectionInput> = {}): SelectionInput => ({
  schemas: ['public'],
  include: [],
  exclude: [],
  policy: 'all',
  ...extra,
});

const decide = (t: TableInfo, input: SelectionInput) => selectTables([t], input).decisions[0]!;

describe('table globs', () => {
  it('matches * and ? within one name part', () => {
    assert.equal(matchesTableGlob('public.*', 'public', 'orders'), true);
    assert.equal(matchesTableGlob('public.*', 'audit', 'orders'), false);
    assert.equal(matchesTableGlob('*.orders', 'sales', 'orders'), true);
    assert.equal(matchesTableGlob('public.order?', 'public', 'orders'), true);
    assert.equal(matchesTableGlob('public.order?', 'public', 'order'), false);
    assert.equal(matchesTableGlob('public.order?', 'public', 'orderss'), false);
    assert.equal(matchesTableGlob('public.tmp_*', 'public', 'tmp_'), true);
    assert.equal(matchesTableGlob('pub*.t', 'public', 't'), true);
  });

  it('is anchored and case-sensitive', () => {
    assert.equal(matchesTableGlob('public.orders', 'public', 'orders_2024'), false);
    assert.equal(matchesTableGlob('public.orders', 'public', 'my_orders'), false);
    assert.equal(matchesTableGlob('public.Orders', 'public', 'orders'), false);
    assert.equal(matchesTableGlob('public.Orders', 'public', 'Orders'), true);
  });

  it('treats regex special characters in names and patterns literally', () => {
    assert.equal(matchesTableGlob('public.a+b', 'public', 'a+b'), true);
    assert.equal(matchesTableGlob('public.a+b', 'public', 'aab'), false);
    assert.equal(matchesTableGlob('public.t$x', 'public', 't$x'), true);
    assert.equal(matchesTableGlob('public.(x)[1]{2}|^', 'public', '(x)[1]{2}|^'), true);
    assert.equal(matchesTableGlob('public.a-b', 'public', 'a-b'), true);
    assert.equal(matchesTableGlob('public.a\\b', 'public', 'a\\b'), true);
    assert.equal(matchesTableGlob('public.*', 'public', 'has"quote'), true);
    assert.equal(matchesTableGlob('public.caf?', 'public', 'café'), true);
  });

  it('splits at the pattern dot, so a dot inside a quoted table name cannot shift it', () => {
    assert.equal(matchesTableGlob('public.*', 'public', 'odd.name'), true);
    assert.equal(matchesTableGlob('public.odd', 'public', 'odd.name'), false);
    assert.equal(matchesTableGlob('public.odd.name', 'public', 'odd.name'), true);
    assert.equal(matchesTableGlob('public.odd.name', 'public', 'oddxname'), false);
    assert.equal(matchesTableGlob('publi?.x', 'public.x', 'x'), false);
  });

  it('compiles once for many tests', () => {
    const m = compileTableGlob('s.t*');
    assert.equal(m.pattern, 's.t*');
    assert.deepEqual(
      ['t', 'tx', 'x'].map((n) => m.matches('s', n)),
      [true, true, false],
    );
  });
});

describe('table selection', () => {
  it('leaves out tables outside source.postgres.schemas first', () => {
    const d = decide(table('audit.log'), rules({ include: ['audit.*'] }));
    assert.equal(d.selected, false);
    assert.equal(d.code, 'schema');
    assert.equal(d.reason, 'schema "audit" is not in source.postgres.schemas');
  });

  it('lets exclude win over include', () => {
    const d = decide(table('public.tmp_x'), rules({ include: ['public.*'], exclude: ['public.tmp_*'] }));
    assert.equal(d.selected, false);
    assert.equal(d.code, 'exclude');
    assert.equal(d.pattern, 'public.tmp_*');
    assert.equal(d.reason, 'matches tables.exclude "public.tmp_*"');
  });

  it('selects by include, naming the first matching pattern', () => {
    const d = decide(table('public.orders'), rules({ include: ['public.users', 'public.ord*', 'public.*'] }));
    assert.equal(d.selected, true);
    assert.equal(d.code, 'include');
    assert.equal(d.reason, 'matches tables.include "public.ord*"');
  });

  it('policy "listed" leaves out unmatched tables; policy "all" keeps them', () => {
    const listed = decide(table('public.other'), rules({ policy: 'listed', include: ['public.orders'] }));
    assert.equal(listed.selected, false);
    assert.equal(listed.code, 'policy-listed');
    assert.equal(listed.reason, 'policy "listed" and no tables.include pattern matches');
    const all = decide(table('public.other'), rules({ policy: 'all', include: ['public.orders'] }));
    assert.equal(all.selected, true);
    assert.equal(all.code, 'policy-all');
  });

  it('excludes tables without a primary key and with REPLICA IDENTITY DEFAULT, naming the fix', () => {
    const d = decide(table('public.events', { hasPrimaryKey: false }), rules());
    assert.equal(d.selected, false);
    assert.equal(d.code, 'replica-identity');
    assert.equal(
      d.reason,
      'no primary key and REPLICA IDENTITY DEFAULT: updates and deletes cannot be captured; ' +
        'run ALTER TABLE public.events REPLICA IDENTITY FULL or add a primary key',
    );
  });

  it('excludes REPLICA IDENTITY NOTHING with or without a primary key', () => {
    const noPk = decide(table('public.a', { hasPrimaryKey: false, replicaIdentity: 'nothing' }), rules());
    assert.equal(noPk.selected, false);
    assert.match(noPk.reason, /^no primary key and REPLICA IDENTITY NOTHING: .*REPLICA IDENTITY FULL/);
    const withPk = decide(table('public.b', { replicaIdentity: 'nothing' }), rules());
    assert.equal(withPk.selected, false);
    assert.match(withPk.reason, /^REPLICA IDENTITY NOTHING: .*ALTER TABLE public\.b REPLICA IDENTITY DEFAULT/);
  });

  it('selects tables without a primary key under REPLICA IDENTITY FULL or USING INDEX, with a note', () => {
    const full = decide(table('public.f', { hasPrimaryKey: false, replicaIdentity: 'full' }), rules());
    assert.equal(full.selected, true);
    assert.match(full.note ?? '', /REPLICA IDENTITY FULL/);
    const index = decide(table('public.i', { hasPrimaryKey: false, replicaIdentity: 'index' }), rules());
    assert.equal(index.selected, true);
    assert.match(index.note ?? '', /USING INDEX/);
    assert.equal(decide(table('public.pk'), rules()).note, undefined);
  });

  it('does not report the identity problem of a table the rules leave out anyway', () => {
    const d = decide(table('public.tmp', { hasPrimaryKey: false }), rules({ exclude: ['public.tmp'] }));
    assert.equal(d.code, 'exclude');
  });

  it('excludes unlogged tables and partitions with their own reasons', () => {
    const unlogged = decide(table('public.u', { persistence: 'unlogged' }), rules());
    assert.equal(unlogged.code, 'unlogged');
    assert.match(unlogged.reason, /ALTER TABLE public\.u SET LOGGED/);
    const part = decide(
      table('public.ev_2024', { kind: 'partition', partitionOf: { schema: 'public', name: 'ev' } }),
      rules({ include: ['public.ev_2024'] }),
    );
    assert.equal(part.code, 'partition');
    assert.match(part.reason, /^partition of public\.ev/);
    assert.equal(decide(table('public.ev', { kind: 'partitioned' }), rules()).selected, true);
  });

  it('returns a decision for every table, split into selected and excluded', () => {
    const result = selectTables(
      [table('public.a'), table('audit.b'), table('public.c', { hasPrimaryKey: false })],
      rules({ schemas: ['public'] }),
    );
    assert.deepEqual(
      result.decisions.map((d) => d.qualifiedName),
      ['public.a', 'audit.b', 'public.c'],
    );
    assert.deepEqual(
      result.selected.map((d) => d.qualifiedName),
      ['public.a'],
    );
    assert.deepEqual(
      identityBlocked(result).map((d) => d.qualifiedName),
      ['public.c'],
    );
  });

  it('quotes odd names in the suggested SQL', () => {
    const d = decide(table('public.Weird "t"', { hasPrimaryKey: false }), rules());
    assert.match(d.reason, /ALTER TABLE public\."Weird ""t""" REPLICA IDENTITY FULL/);
    assert.equal(quoteIdent('orders'), 'orders');
    assert.equal(quoteIdent('user'), '"user"');
    assert.equal(quoteIdent('Mixed'), '"Mixed"');
    assert.equal(quoteQualified('my schema', 'order'), '"my schema"."order"');
  });
});

describe('tags', () => {
  const tags = {
    'public.*': { sensitivity: 'internal', owner: 'data' },
    'public.users': { sensitivity: 'pii' },
    '*.users': { domain: 'identity' },
  };

  it('merges every matching entry, later patterns overriding earlier keys', () => {
    assert.deepEqual(resolveTags(tags, 'public', 'users'), {
      sensitivity: 'pii',
      owner: 'data',
      domain: 'identity',
    });
    assert.deepEqual(resolveTags(tags, 'public', 'orders'), { sensitivity: 'internal', owner: 'data' });
    assert.deepEqual(resolveTags(tags, 'audit', 'log'), {});
    assert.deepEqual(resolveTags(undefined, 'public', 'users'), {});
  });

  it('follows file order, not specificity', () => {
    const reversed = { 'public.users': { sensitivity: 'pii' }, 'public.*': { sensitivity: 'internal' } };
    assert.deepEqual(resolveTags(reversed, 'public', 'users'), { sensitivity: 'internal' });
  });

  it('attaches tags to each decision', () => {
    const d = decide(table('public.users'), rules({ tags }));
    assert.equal(d.tags.sensitivity, 'pii');
  });
});
