/**
 * The lake's contract as readers outside pg-cdc meet it: the names and the snapshot summary keys (a change here
 * breaks every lake already written), the changelog's column roles and the one visibility rule built on them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseLsnText } from '../../core/lsn/index.js';
import {
  changelogIdentifier,
  changelogLocation,
  changelogSchema,
  changelogSourceColumns,
  isChangelogIdentifier,
  isChangelogMetadataColumn,
  pgcdcSummary,
  sourceColumnOf,
  stateIdentifierOf,
  SUMMARY_KEY,
  summaryEpoch,
  summaryLsn,
  tableLocation,
  visibleChangelogColumns,
} from '../../lake/contract/index.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';

const STATE: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  fields: [
    { id: 1, name: 'id', type: 'long', required: true },
    { id: 2, name: '_op', type: 'string', required: false },
    { id: 3, name: '_internal', type: 'string', required: false },
    { id: 4, name: 'email', type: 'string', required: false },
  ],
};
const CHANGELOG = changelogSchema(STATE).fields.map((f) => f.name);

describe('lake contract', () => {
  it('names and places a table and its changelog', () => {
    assert.equal(changelogIdentifier('public.orders'), 'public.orders__changes');
    assert.equal(changelogLocation('public/orders'), 'public/orders__changes');
    assert.equal(isChangelogIdentifier('public.orders__changes'), true);
    assert.equal(isChangelogIdentifier('public.orders'), false);
    assert.equal(isChangelogIdentifier('__changes'), false);
    assert.equal(stateIdentifierOf('public.orders__changes'), 'public.orders');
    assert.equal(stateIdentifierOf('public.orders'), 'public.orders');
    assert.equal(tableLocation('we.ird', '../x'), 'we%2Eird/%2E%2E%2Fx');
  });

  it('writes the summary keys readers already know, and reads them back', () => {
    const summary = pgcdcSummary({ kind: 'snapshot', epoch: 0, lsn: parseLsnText('0/16b3748'), slot: 's' });
    assert.deepEqual(summary, {
      'pgcdc.kind': 'snapshot',
      'pgcdc.epoch': '0',
      'pgcdc.lsn': '0/16B3748',
      'pgcdc.slot': 's',
    });
    assert.equal(summaryEpoch(summary), 0);
    assert.equal(summaryLsn(summary), '0/16B3748');
    assert.equal(summaryEpoch({ [SUMMARY_KEY.epoch]: '1.5' }), undefined);
    assert.equal(summaryLsn({ [SUMMARY_KEY.lsn]: 'soon' }), undefined);
    assert.equal(summaryEpoch(undefined), undefined);
  });

  it('tells metadata from row columns by the schema, never by a leading underscore', () => {
    assert.deepEqual(CHANGELOG, [
      '_op',
      '_commit_lsn',
      '_commit_ts',
      '_xid',
      '_seq',
      '_unchanged_toast',
      'id',
      '_op__row',
      '_internal',
      'email',
    ]);
    assert.deepEqual(CHANGELOG.filter(isChangelogMetadataColumn), CHANGELOG.slice(0, 6));
    assert.equal(sourceColumnOf('_op__row'), '_op');
    assert.equal(sourceColumnOf('name__row'), 'name__row');
    assert.deepEqual(changelogSourceColumns(CHANGELOG), ['id', '_op', '_internal', 'email']);
  });

  it('shows row columns as their source columns are shown, the change metadata with any, the TOAST list with all', () => {
    assert.deepEqual(visibleChangelogColumns(CHANGELOG, new Set(['id', 'email'])), [
      '_op',
      '_commit_lsn',
      '_commit_ts',
      '_xid',
      '_seq',
      'id',
      'email',
    ]);
    assert.deepEqual(visibleChangelogColumns(CHANGELOG, new Set(['id', '_op', '_internal', 'email'])), CHANGELOG);
    assert.deepEqual(visibleChangelogColumns(CHANGELOG, new Set()), []);
    // Given the state table's columns, the TOAST list wants every one of them, the changelog's or not.
    const state = ['id', '_op', '_internal', 'email', 'phone'];
    const withPhone = visibleChangelogColumns(CHANGELOG, new Set(['id', '_op', '_internal', 'email']), state);
    assert.equal(withPhone.includes('_unchanged_toast'), false);
    assert.equal(visibleChangelogColumns(CHANGELOG, new Set(state), state).includes('_unchanged_toast'), true);
    // A column the contract cannot place is hidden.
    assert.deepEqual(visibleChangelogColumns(['_op', 'id', '_old_email'], new Set(['id'])), ['_op', 'id']);
  });
});
