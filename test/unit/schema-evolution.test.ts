import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  evolveShape,
  freshShape,
  isPromotion,
  matchColumns,
  planOfShape,
  type TableShape,
} from '../../core/types/evolution.js';
import type { SourceColumn, SourceTable, SourceType } from '../../core/types/source.js';
import { newTableMetadata } from '../../lake/iceberg/metadata.js';
import { withSchema } from '../../lake/iceberg/schema.js';
import { changelogSchema } from '../../lake/contract/index.js';

const scalar = (name: string, oid: number, category = 'N'): SourceType => ({
  oid,
  schema: 'pg_catalog',
  name,
  typmod: -1,
  category,
  isEnum: false,
});
const TYPES = {
  int4: scalar('int4', 23),
  int8: scalar('int8', 20),
  text: scalar('text', 25, 'S'),
  bool: scalar('bool', 16, 'B'),
} as const;
const FORMAT = { int4: 'integer', int8: 'bigint', text: 'text', bool: 'boolean' } as const;

let attnum = 0;
const col = (name: string, type: keyof typeof TYPES, at = ++attnum): SourceColumn => ({
  name,
  attnum: at,
  notNull: name === 'id' || name === 'key',
  typeOid: TYPES[type].oid,
  typmod: -1,
  formatType: FORMAT[type],
  dimensions: 0,
  type: TYPES[type],
});
const table = (...columns: SourceColumn[]): SourceTable => ({
  schema: 'public',
  name: 't',
  columns,
  primaryKey: columns.some((c) => c.name === 'id') ? ['id'] : [],
});

const base = (): TableShape => freshShape(table(col('id', 'int4', 1), col('a', 'text', 2), col('b', 'int4', 3)));
const evolve = (previous: TableShape, next: SourceTable, attnums?: Map<string, number>) =>
  evolveShape(previous, next, matchColumns(previous.source.columns, next.columns, attnums));
const idsOf = (shape: TableShape): [string, number][] => shape.ids.map((i) => [i.name, i.fieldId]);

describe('matching a Relation to the previous columns', () => {
  const prev = [col('id', 'int4', 1), col('a', 'text', 2), col('b', 'int4', 3)];
  const rel = (...names: string[]) => names.map((name) => ({ name, typeOid: 23, typmod: -1 }));

  it('reads one ALTER off the positions', () => {
    assert.deepEqual(matchColumns(prev, rel('id', 'a', 'b', 'c')), [0, 1, 2, undefined], 'add');
    assert.deepEqual(matchColumns(prev, rel('id', 'b')), [0, 2], 'drop');
    assert.deepEqual(matchColumns(prev, rel('id', 'x', 'b')), [0, 1, 2], 'rename');
  });

  it('matches by attnum when the catalog agrees with the Relation', () => {
    // b dropped and added again: same names, but b has a new attnum.
    const attnums = new Map([
      ['id', 1],
      ['a', 2],
      ['b', 4],
    ]);
    assert.deepEqual(matchColumns(prev, rel('id', 'a', 'b'), attnums), [0, 1, undefined]);
  });

  it('falls back to names when several changes are ambiguous and the catalog has moved on', () => {
    assert.deepEqual(matchColumns(prev, rel('id', 'b', 'c', 'd')), [0, 2, undefined, undefined]);
  });
});

describe('evolving the field ids', () => {
  it('gives an added column the next id and a renamed one its old id', () => {
    const added = evolve(
      base(),
      table(col('id', 'int4', 1), col('a', 'text', 2), col('b', 'int4', 3), col('c', 'bool', 4)),
    );
    assert.deepEqual(idsOf(added.shape), [
      ['id', 1],
      ['a', 2],
      ['b', 3],
      ['c', 4],
    ]);
    assert.equal(added.shape.schemaId, 1);
    assert.deepEqual(added.changes, [{ kind: 'add', column: 'c', fieldId: 4 }]);
    const renamed = evolve(
      added.shape,
      table(col('id', 'int4', 1), col('x', 'text', 2), col('b', 'int4', 3), col('c', 'bool', 4)),
    );
    assert.deepEqual(renamed.changes, [{ kind: 'rename', from: 'a', to: 'x', fieldId: 2 }]);
    assert.equal(renamed.shape.ids[1]!.fieldId, 2);
  });

  it('never reuses an id: a column dropped and added again under its name gets a new one', () => {
    const dropped = evolve(base(), table(col('id', 'int4', 1), col('a', 'text', 2)));
    assert.deepEqual(dropped.changes, [{ kind: 'drop', column: 'b', fieldId: 3 }]);
    const again = evolve(dropped.shape, table(col('id', 'int4', 1), col('a', 'text', 2), col('b', 'int4', 5)));
    assert.deepEqual(idsOf(again.shape).at(-1), ['b', 4]);
    assert.equal(again.shape.lastColumnId, 4);
    assert.equal(again.shape.schemaId, 2);
  });

  it('promotes int to bigint in place and gives int to text a new id, the old field retired under a name', () => {
    const promoted = evolve(base(), table(col('id', 'int4', 1), col('a', 'text', 2), col('b', 'int8', 3)));
    assert.equal(promoted.shape.ids[2]!.fieldId, 3);
    assert.deepEqual(
      promoted.changes.map((c) => [c.kind, c.kind === 'type' && c.promoted]),
      [['type', true]],
    );
    assert.equal(planOfShape(promoted.shape).schema.fields[2]!.type, 'long');

    const changed = evolve(base(), table(col('id', 'int4', 1), col('a', 'text', 2), col('b', 'text', 3)));
    const schema = planOfShape(changed.shape).schema;
    assert.deepEqual(
      schema.fields.map((f) => [f.id, f.name, f.type]),
      [
        [1, 'id', 'int'],
        [2, 'a', 'string'],
        [4, 'b', 'string'],
        [3, 'b__v0', 'int'],
      ],
    );
    assert.deepEqual(schema['identifier-field-ids'], [1]);
  });

  it('keeps the identifier field through a rename of the key', () => {
    const renamed = evolve(base(), {
      ...table(col('key', 'int4', 1), col('a', 'text', 2), col('b', 'int4', 3)),
      primaryKey: ['key'],
    });
    assert.deepEqual(planOfShape(renamed.shape).schema['identifier-field-ids'], [1]);
  });

  it('knows Iceberg promotions', () => {
    assert.ok(isPromotion('int', 'long'));
    assert.ok(isPromotion('float', 'double'));
    assert.ok(isPromotion('decimal(10, 2)', 'decimal(12, 2)'));
    assert.ok(!isPromotion('decimal(10, 2)', 'decimal(12, 3)'));
    assert.ok(!isPromotion('long', 'int'));
    assert.ok(!isPromotion('int', 'string'));
  });
});

describe('a new schema in the table metadata', () => {
  it('gets the next schema id, moves current-schema-id and covers last-column-id; the changelog follows', () => {
    const first = planOfShape(base()).schema;
    const metadata = newTableMetadata({ location: 'file:///lake/t', schema: first });
    const evolved = evolve(
      base(),
      table(col('id', 'int4', 1), col('a', 'text', 2), col('b', 'int4', 3), col('c', 'bool', 4)),
    );
    const next = withSchema(metadata, planOfShape(evolved.shape).schema);
    assert.deepEqual(
      next.schemas.map((s) => s['schema-id']),
      [0, 1],
    );
    assert.equal(next['current-schema-id'], 1);
    assert.equal(next['last-column-id'], 4);
    const changes = changelogSchema(planOfShape(evolved.shape).schema);
    assert.deepEqual(changes.fields.at(-1)!.id, 4 + 6);
  });

  it('refuses to give a field id another type', () => {
    const first = planOfShape(base()).schema;
    const metadata = newTableMetadata({ location: 'file:///lake/t', schema: first });
    const wrong = { ...first, fields: first.fields.map((f) => (f.id === 3 ? { ...f, type: 'string' as const } : f)) };
    assert.throws(() => withSchema(metadata, wrong), /field id 3/);
  });
});
