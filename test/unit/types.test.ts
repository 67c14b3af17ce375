import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  numericTypmod,
  planTable,
  sourceSessionOptions,
  sourceSessionSql,
  TypeMappingError,
  type SourceColumn,
  type SourceTable,
  type SourceType,
} from '../../core/types/index.js';
import { lastColumnId, type IcebergType } from '../../core/types/iceberg.js';

const numericMod = (precision: number, scale: number): number => ((precision << 16) | (scale & 0x7ff)) + 4;

const type = (name: string, extra: Partial<SourceType> = {}): SourceType => ({
  oid: 0,
  schema: 'pg_catalog',
  name,
  typmod: -1,
  category: 'U',
  isEnum: false,
  ...extra,
});
const arrayOf = (element: SourceType): SourceType =>
  type(`_${element.name}`, { category: 'A', element, typmod: element.typmod });

const column = (name: string, t: SourceType, extra: Partial<SourceColumn> = {}): SourceColumn => ({
  name,
  attnum: 0,
  notNull: false,
  typeOid: t.oid,
  typmod: t.typmod,
  formatType: t.name,
  dimensions: t.element ? 1 : 0,
  type: t,
  ...extra,
});

const table = (columns: SourceColumn[], primaryKey: string[] = []): SourceTable => ({
  schema: 'public',
  name: 't',
  columns: columns.map((c, i) => ({ ...c, attnum: i + 1 })),
  primaryKey,
});

const only = (t: SourceType, extra: Partial<SourceColumn> = {}) =>
  planTable(table([column('v', t, extra)])).columns[0]!;

describe('planTable: field ids and schema', () => {
  it('numbers columns 1..n in attnum order and list elements after n', () => {
    const plan = planTable(
      table([
        column('id', type('int4'), { notNull: true }),
        column('tags', arrayOf(type('text'))),
        column('name', type('text')),
        column('scores', arrayOf(type('int8'))),
      ]),
    );
    assert.deepEqual(
      plan.columns.map((c) => [c.name, c.fieldId, c.duckdbFieldIds]),
      [
        ['id', 1, 1],
        ['tags', 2, { __duckdb_field_id: 2, element: 5 }],
        ['name', 3, 3],
        ['scores', 4, { __duckdb_field_id: 4, element: 6 }],
      ],
    );
    assert.equal(plan.schema['schema-id'], 0);
    assert.equal(lastColumnId(plan.schema), 6);
    assert.deepEqual(plan.schema.fields[1]?.type, {
      type: 'list',
      'element-id': 5,
      element: 'string',
      'element-required': false,
    });
    assert.equal(
      plan.fieldIds(),
      `{'id': 1, 'tags': {__duckdb_field_id: 2, element: 5}, 'name': 3, 'scores': {__duckdb_field_id: 4, element: 6}}`,
    );
  });

  it('takes identifier-field-ids from the primary key, in key order', () => {
    const plan = planTable(
      table(
        [
          column('a', type('int4'), { notNull: true }),
          column('b', type('text'), { notNull: true }),
          column('c', type('int8')),
        ],
        ['b', 'a'],
      ),
    );
    assert.deepEqual(plan.schema['identifier-field-ids'], [2, 1]);
    assert.deepEqual(
      plan.schema.fields.map((f) => f.required),
      [true, true, false],
    );
    assert.equal(plan.identifierNote, undefined);
    assert.equal(planTable(table([column('a', type('int4'))])).schema['identifier-field-ids'], undefined);
  });

  it('leaves identifier-field-ids out when a key column is a float, and says why', () => {
    const plan = planTable(table([column('f', type('float8'), { notNull: true })], ['f']));
    assert.equal(plan.schema['identifier-field-ids'], undefined);
    assert.match(plan.identifierNote ?? '', /primary key column f/);
  });

  it('keeps a decimal key column required and refuses its NaN instead of writing NULL', () => {
    const decimal = type('numeric', { typmod: numericMod(10, 2) });
    const plan = planTable(
      table([column('k', decimal, { notNull: true }), column('n', decimal, { notNull: true })], ['k']),
    );
    const [k, n] = plan.columns;
    assert.equal(k!.required, true);
    assert.match(k!.duckdbExpression, /error\('numeric ' \|\| "c1" \|\| ' in primary key column ' \|\| 'k'/);
    // NaN becomes NULL outside the key, so the NOT NULL column cannot be required in Iceberg.
    assert.equal(n!.required, false);
    assert.match(n!.duckdbExpression, /THEN NULL ELSE CAST\("c2" AS DECIMAL\(10,2\)\)/);
    assert.deepEqual(plan.schema['identifier-field-ids'], [1]);
  });

  it('documents the source type, naming the base type of a domain', () => {
    const plan = planTable(
      table([column('d', type('int4', { domain: 'public.positive' }), { formatType: 'positive' })]),
    );
    assert.equal(plan.schema.fields[0]?.doc, 'positive (domain over int4)');
    assert.equal(plan.schema.fields[0]?.type, 'int');
  });

  it('refuses a table without columns with a typed error', () => {
    assert.throws(
      () => planTable(table([])),
      (error: unknown) => {
        assert.ok(error instanceof TypeMappingError);
        assert.equal(error.code, 'TYPE_MAPPING');
        assert.ok(error.hint);
        return true;
      },
    );
  });
});

describe('planTable: identifiers', () => {
  const names = ['with space', 'it\'s "quoted"', 'ünïcødé 名前', 'CamelCase', 'camelcase', 'select'];
  const plan = planTable(table(names.map((n) => column(n, type('text')))));

  it('double-quotes every column on the PostgreSQL side', () => {
    assert.equal(
      plan.selectList(),
      `"with space", "it's ""quoted""", "ünïcødé 名前", "CamelCase", "camelcase", "select"`,
    );
  });

  it('reads CSV columns under synthetic names and aliases them back to the source names', () => {
    assert.deepEqual(Object.keys(plan.csvColumns()), ['c1', 'c2', 'c3', 'c4', 'c5', 'c6']);
    assert.equal(
      plan.duckdbSelect(),
      `"c1" AS "with space", "c2" AS "it's ""quoted""", "c3" AS "ünïcødé 名前", "c4" AS "CamelCase", ` +
        `"c5" AS "camelcase__5", "c6" AS "select"`,
    );
    assert.match(plan.fieldIds(), /'it''s "quoted"': 2/);
    assert.match(plan.fieldIds(), /'camelcase__5': 5/);
  });

  it('keeps the source names in the Iceberg schema even where Parquet needs another', () => {
    assert.deepEqual(
      plan.schema.fields.map((f) => f.name),
      names,
    );
  });
});

describe('planTable: the mapping', () => {
  const rows: Array<[string, SourceType, IcebergType, string]> = [
    ['int2', type('int2'), 'int', 'INTEGER'],
    ['int4', type('int4'), 'int', 'INTEGER'],
    ['int8', type('int8'), 'long', 'BIGINT'],
    ['numeric(12,2)', type('numeric', { typmod: numericMod(12, 2) }), 'decimal(12, 2)', 'VARCHAR'],
    ['numeric(38,0)', type('numeric', { typmod: numericMod(38, 0) }), 'decimal(38, 0)', 'VARCHAR'],
    ['numeric(5,-2)', type('numeric', { typmod: numericMod(5, -2) }), 'decimal(7, 0)', 'VARCHAR'],
    ['numeric(3,5)', type('numeric', { typmod: numericMod(3, 5) }), 'decimal(5, 5)', 'VARCHAR'],
    ['numeric(39,2)', type('numeric', { typmod: numericMod(39, 2) }), 'string', 'VARCHAR'],
    ['numeric', type('numeric'), 'string', 'VARCHAR'],
    ['float4', type('float4'), 'float', 'FLOAT'],
    ['float8', type('float8'), 'double', 'DOUBLE'],
    ['bool', type('bool'), 'boolean', 'BOOLEAN'],
    ['text', type('text'), 'string', 'VARCHAR'],
    ['varchar(10)', type('varchar', { typmod: 14 }), 'string', 'VARCHAR'],
    ['char(3)', type('bpchar', { typmod: 7 }), 'string', 'VARCHAR'],
    ['"char"', type('char'), 'string', 'VARCHAR'],
    ['name', type('name'), 'string', 'VARCHAR'],
    ['citext', type('citext', { schema: 'public' }), 'string', 'VARCHAR'],
    ['enum', type('mood', { schema: 'public', isEnum: true, category: 'E' }), 'string', 'VARCHAR'],
    ['bytea', type('bytea'), 'binary', 'VARCHAR'],
    ['date', type('date'), 'date', 'VARCHAR'],
    ['time', type('time'), 'time', 'VARCHAR'],
    ['timestamp', type('timestamp'), 'timestamp', 'VARCHAR'],
    ['timestamptz', type('timestamptz'), 'timestamptz', 'VARCHAR'],
    ['uuid', type('uuid'), 'uuid', 'UUID'],
    ['json', type('json'), 'string', 'VARCHAR'],
    ['jsonb', type('jsonb'), 'string', 'VARCHAR'],
    ...[
      'interval',
      'timetz',
      'inet',
      'cidr',
      'macaddr',
      'money',
      'bit',
      'varbit',
      'int4range',
      'tsvector',
      'point',
      'xml',
      'oid',
    ].map((name): [string, SourceType, IcebergType, string] => [name, type(name), 'string', 'VARCHAR']),
    ['unknown extension type', type('geometry', { schema: 'public' }), 'string', 'VARCHAR'],
    ['a user type that shadows int4', type('int4', { schema: 'app' }), 'string', 'VARCHAR'],
    ['domain over int4', type('int4', { domain: 'public.positive' }), 'int', 'INTEGER'],
    [
      'domain over numeric(10,2)',
      type('numeric', { typmod: numericMod(10, 2), domain: 'public.price' }),
      'decimal(10, 2)',
      'VARCHAR',
    ],
  ];
  for (const [label, sourceType, iceberg, csvType] of rows) {
    it(`${label} → ${typeof iceberg === 'string' ? iceberg : iceberg.type}`, () => {
      const plan = only(sourceType);
      assert.deepEqual(plan.iceberg, iceberg);
      assert.equal(plan.csvType, csvType);
    });
  }

  it('writes strings as their text form, untouched', () => {
    for (const name of ['text', 'interval', 'json', 'money']) {
      const plan = only(type(name));
      assert.equal(plan.sourceExpression, '"v"');
      assert.equal(plan.duckdbExpression, '"c1"');
      assert.equal(plan.lossy, undefined);
    }
  });

  it('converts the special values of numeric, dates, times and bytea on the DuckDB side', () => {
    assert.match(only(type('numeric', { typmod: numericMod(12, 2) })).lossy ?? '', /NaN/);
    const ts = only(type('timestamptz'));
    assert.match(ts.duckdbExpression, /WHEN 'infinity' THEN TIMESTAMPTZ '9999-12-31 23:59:59\.999999\+00'/);
    assert.match(ts.duckdbExpression, /WHEN '-infinity' THEN TIMESTAMPTZ '0001-01-01 00:00:00\+00'/);
    assert.match(ts.duckdbExpression, /' BC'/);
    assert.match(only(type('date')).duckdbExpression, /DATE '9999-12-31'/);
    assert.match(only(type('time')).duckdbExpression, /WHEN '24:00:00' THEN TIME '23:59:59\.999999'/);
    assert.equal(only(type('bytea')).duckdbExpression, 'unhex(substr("c1", 3))');
    assert.equal(only(type('float8')).lossy, undefined);
  });

  it('maps arrays to lists of the element mapping, through JSON text', () => {
    const ints = only(arrayOf(type('int4')));
    assert.deepEqual(ints.iceberg, { type: 'list', 'element-id': 2, element: 'int', 'element-required': false });
    assert.match(ints.sourceExpression, /^to_jsonb\(\(CASE WHEN array_ndims\("v"\) > 1 .*\)::text\[\]\)::text$/);
    assert.equal(ints.duckdbExpression, `list_transform(from_json("c1", '["VARCHAR"]'), lambda e: CAST(e AS INTEGER))`);
    const texts = only(arrayOf(type('text')));
    assert.equal(texts.duckdbExpression, `from_json("c1", '["VARCHAR"]')`);
    const decimals = only(arrayOf(type('numeric', { typmod: numericMod(10, 2) })));
    assert.deepEqual((decimals.iceberg as { element: IcebergType }).element, 'decimal(10, 2)');
    assert.match(decimals.lossy ?? '', /NaN/);
    const enums = only(arrayOf(type('mood', { schema: 'public', isEnum: true })));
    assert.equal((enums.iceberg as { element: IcebergType }).element, 'string');
    const domains = only(arrayOf(type('int8', { domain: 'public.big' })));
    assert.equal((domains.iceberg as { element: IcebergType }).element, 'long');
    const stamps = only(arrayOf(type('timestamptz')));
    assert.match(stamps.duckdbExpression, /lambda e: CASE e WHEN 'infinity'/);
  });

  it('keeps declared multi-dimensional arrays as PostgreSQL text', () => {
    const plan = only(arrayOf(type('int4')), { dimensions: 2 });
    assert.equal(plan.iceberg, 'string');
    assert.equal(plan.sourceExpression, '"v"');
    assert.equal(plan.duckdbExpression, '"c1"');
  });

  it('decodes numeric typmods, negative scales included', () => {
    assert.deepEqual(numericTypmod(numericMod(12, 2)), { precision: 12, scale: 2 });
    assert.deepEqual(numericTypmod(numericMod(5, -2)), { precision: 5, scale: -2 });
    assert.deepEqual(numericTypmod(numericMod(1000, 1000)), { precision: 1000, scale: 1000 });
    assert.equal(numericTypmod(-1), undefined);
  });
});

describe('source session settings', () => {
  it('fixes every setting the text forms depend on', () => {
    const sql = sourceSessionSql();
    for (const setting of [
      "TimeZone = 'UTC'",
      "DateStyle = 'ISO, YMD'",
      "IntervalStyle = 'postgres'",
      "extra_float_digits = '3'",
      "bytea_output = 'hex'",
    ]) {
      assert.ok(sql.includes(`SET ${setting}`), setting);
    }
    assert.ok(sourceSessionSql('local').startsWith('SET LOCAL '));
    assert.match(sourceSessionOptions(), /-c DateStyle=ISO,\\ YMD/);
  });
});
