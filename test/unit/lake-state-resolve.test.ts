import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import { lastColumnId } from '../../core/types/iceberg.js';
import { changelogSchema, UNCHANGED_TOAST_ELEMENT_ID } from '../../lake/contract/index.js';
import { identityKey } from '../../lake/state/keys.js';
import { epochFileKey, epochSnapshotId } from '../../lake/state/naming.js';
import { resolveFullRow, resolvePrimaryKey, type ThinChange } from '../../lake/state/resolve.js';

/** Identities are small numbers here: 1, 2, 3 ... as the loader's `ids` table would number them. */
let ord = 0;
const reset = (): void => void (ord = 0);
const I = (to: number): ThinChange => ({ ord: ord++, op: 'I', from: undefined, to, unchanged: [] });
const U = (from: number, to: number, unchanged: number[] = []): ThinChange => ({
  ord: ord++,
  op: 'U',
  from,
  to,
  unchanged,
});
const D = (from: number): ThinChange => ({ ord: ord++, op: 'D', from, to: undefined, unchanged: [] });
const T = (): ThinChange => ({ ord: ord++, op: 'T', from: undefined, to: undefined, unchanged: [] });

describe('epoch resolution, primary key', () => {
  it('the last change of each identity wins; every touched identity that may be in the lake loses its rows', () => {
    reset();
    const r = resolvePrimaryKey([I(6), U(1, 1), D(2), U(3, 30), U(6, 6), U(1, 1), D(6), I(2)]);
    // 1 → ord 5, 30 → ord 3, 2 → ord 7; 6 was inserted then deleted; 3 moved to 30. 6 first arrived by an INSERT,
    // so the lake cannot hold it and it is not looked up.
    assert.deepEqual(r.written, [3, 5, 7]);
    assert.deepEqual(
      [...r.lakeDeletes.keys()].sort((a, b) => a - b),
      [1, 2, 3, 30],
    );
    assert.equal(r.truncated, false);
    assert.deepEqual(r.toast, []);
  });

  it('an unchanged TOAST value comes from the latest earlier change that sent it, else the lake row', () => {
    reset();
    const changes = [
      U(1, 1, [3]), // 0: from the lake row of 1
      U(2, 2), // 1: sends column 3
      U(2, 2, [3]), // 2: from change 1
      U(2, 2, [3]), // 3: still from change 1 (through 2)
      U(4, 40, [3]), // 4: key change; from the lake row of 4
      U(40, 40, [3, 5]), // 5: column 3 from the lake row of 4 (through 4), column 5 from change 4
      I(7), // 6
      U(7, 7, [3]), // 7: from the insert
    ];
    const r = resolvePrimaryKey(changes);
    assert.deepEqual(r.written, [0, 3, 5, 7]);
    assert.deepEqual(r.toast, [
      { ord: 0, field: 3, lakeIdentity: 1 },
      { ord: 3, field: 3, sourceOrd: 1 },
      { ord: 5, field: 3, lakeIdentity: 4 },
      { ord: 5, field: 5, sourceOrd: 4 }, // change 4 sent column 5
      { ord: 7, field: 3, sourceOrd: 6 },
    ]);
  });

  it('a truncate forgets everything before it, lake included', () => {
    reset();
    const r = resolvePrimaryKey([U(1, 1), I(6), T(), I(7), I(1), U(7, 7, [3]), U(1, 1, [3])]);
    assert.equal(r.truncated, true);
    assert.deepEqual(r.written, [5, 6]);
    assert.equal(r.lakeDeletes.size, 0);
    // 7 was inserted after the truncate: its value comes from that insert; 1's pre-truncate row does not count.
    assert.deepEqual(r.toast, [
      { ord: 5, field: 3, sourceOrd: 3 },
      { ord: 6, field: 3, sourceOrd: 4 },
    ]);
  });

  it('an update of a row deleted earlier in the batch has no TOAST source', () => {
    reset();
    const r = resolvePrimaryKey([D(1), U(1, 1, [3])]);
    assert.deepEqual(r.written, [1]);
    assert.deepEqual(r.toast, []);
  });
});

describe('epoch resolution, full-row multiset', () => {
  it('a delete removes one equal row: one added by the batch first, else one of the lake', () => {
    reset();
    // Lake: 1 twice, 2 once. Identity = the whole row.
    const r = resolveFullRow([D(1), I(2), U(2, 3), I(4), D(4), D(1), D(1)]);
    assert.deepEqual(r.written, [2]); // the copy of 3
    assert.deepEqual([...r.lakeDeletes.entries()].sort(), [[1, 3]]);
  });

  it('after a truncate, deletes only match rows the batch added', () => {
    reset();
    const r = resolveFullRow([D(1), T(), I(1), I(1), D(1), D(2)]);
    assert.equal(r.truncated, true);
    assert.deepEqual(r.written, [2]);
    assert.equal(r.lakeDeletes.size, 0);
  });
});

const stateSchema: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  'identifier-field-ids': [1],
  fields: [
    { id: 1, name: 'id', required: true, type: 'long' },
    { id: 2, name: '_op', required: false, type: 'string', doc: 'text' },
    {
      id: 3,
      name: 'tags',
      required: false,
      type: { type: 'list', 'element-id': 5, element: 'int', 'element-required': false },
    },
    { id: 4, name: 'at', required: false, type: 'timestamptz' },
  ],
};

describe('changelog schema', () => {
  it('metadata columns 1..6, then every row column optional with its state id + 6', () => {
    const schema = changelogSchema(stateSchema);
    assert.deepEqual(
      schema.fields.map((f) => [f.id, f.name, f.required]),
      [
        [1, '_op', true],
        [2, '_commit_lsn', true],
        [3, '_commit_ts', true],
        [4, '_xid', true],
        [5, '_seq', true],
        [6, '_unchanged_toast', false],
        [7, 'id', false],
        [8, '_op__row', false],
        [9, 'tags', false],
        [10, 'at', false],
      ],
    );
    assert.deepEqual(schema.fields.map((f) => f.type).slice(1, 5), ['long', 'timestamptz', 'long', 'long']);
    assert.deepEqual(schema.fields[8]!.type, {
      type: 'list',
      'element-id': 11,
      element: 'int',
      'element-required': false,
    });
    assert.deepEqual(schema.fields[5]!.type, {
      type: 'list',
      'element-id': UNCHANGED_TOAST_ELEMENT_ID,
      element: 'string',
      'element-required': true,
    });
    assert.equal(schema['identifier-field-ids'], undefined);
    assert.deepEqual(changelogSchema(stateSchema), schema);
    // Ids stay unique, and a column added later to the state (id 6 → 12) cannot collide.
    const ids = [...schema.fields.map((f) => f.id), 11, UNCHANGED_TOAST_ELEMENT_ID];
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(lastColumnId(schema) === UNCHANGED_TOAST_ELEMENT_ID);
  });
});

describe('epoch naming and keys', () => {
  it('snapshot ids and file names are functions of table and epoch', () => {
    assert.equal(epochSnapshotId('public.orders', 42), epochSnapshotId('public.orders', 42));
    assert.notEqual(epochSnapshotId('public.orders', 42), epochSnapshotId('public.orders', 43));
    assert.notEqual(epochSnapshotId('public.orders', 42), epochSnapshotId('public.orders__changes', 42));
    const id = epochSnapshotId('public.orders', 1);
    assert.ok(id > 0n && id < 1n << 63n);
    assert.match(
      epochFileKey('public/orders', 'uuid-a', 42, 'state'),
      /^public\/orders\/data\/e000042-[0-9a-f]{12}-state\.parquet$/,
    );
    assert.notEqual(
      epochFileKey('public/orders', 'uuid-a', 42, 'state'),
      epochFileKey('public/orders', 'uuid-b', 42, 'state'),
    );
  });

  it('identity keys: a single integer key is a number; others canonical text; full rows hashed', () => {
    const columns = (ids: number[]) =>
      ids.map((id) => ({
        fieldId: id,
        name: `c${id}`,
        csvType: 'VARCHAR',
        convert: (t: string) => t,
        duckdbFieldIds: id,
      }));
    const pk = identityKey(stateSchema, { columns: columns([1, 2, 3, 4]), identity: [1], identityKind: 'primary-key' });
    assert.equal(pk.kind, 'integer');
    assert.equal(
      pk.sql((id) => `x${id}`),
      'CAST(x1 AS BIGINT)',
    );
    const composite = identityKey(stateSchema, {
      columns: columns([1, 2, 3, 4]),
      identity: [1, 4],
      identityKind: 'primary-key',
    });
    assert.equal(composite.kind, 'text');
    assert.match(
      composite.sql((id) => `x${id}`),
      /epoch_us\(CAST\(x4 AS TIMESTAMPTZ\)\)/,
    );
    const full = identityKey(stateSchema, {
      columns: columns([1, 2, 3, 4]),
      identity: [1, 2, 3, 4],
      identityKind: 'full-row',
    });
    assert.match(
      full.sql((id) => `x${id}`),
      /^md5\(/,
    );
    assert.notEqual(full.signature, composite.signature);
  });
});
