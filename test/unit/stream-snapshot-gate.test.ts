/**
 * The rule for a table that joined while streaming (core/xid, stream/snapshot-gate.ts): a streamed transaction goes
 * on top of the table's base exactly when the snapshot the base was copied under does not see it. And the key a
 * Relation message gives a table (stream/identity.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PgCdcError } from '../../core/errors/index.js';
import { asLsn } from '../../core/lsn/index.js';
import { formatSnapshotXids, parseSnapshotXids, snapshotSees, widenXid } from '../../core/xid/index.js';
import { keyAfterRelation } from '../../stream/identity.js';
import { SnapshotGate } from '../../stream/snapshot-gate.js';
import type { ShapedKeys } from '../../stream/spool.js';
import type { TableShape } from '../../core/types/evolution.js';

describe('snapshot xids', () => {
  it('parses pg_current_snapshot() and writes it back', () => {
    const snapshot = parseSnapshotXids('100:105:100,103');
    assert.equal(snapshot.xmin, 100n);
    assert.equal(snapshot.xmax, 105n);
    assert.deepEqual([...snapshot.xip], [100n, 103n]);
    assert.equal(formatSnapshotXids(snapshot), '100:105:100,103');
    assert.equal(formatSnapshotXids(parseSnapshotXids('7:7:')), '7:7:');
  });

  it('refuses text that is not a snapshot, with SNAPSHOT_INVALID', () => {
    assert.throws(
      () => parseSnapshotXids('0/16B3748'),
      (error: unknown) => error instanceof PgCdcError && error.code === 'SNAPSHOT_INVALID',
    );
  });

  it('sees what committed before it and nothing in progress or started after', () => {
    const snapshot = parseSnapshotXids('100:105:100,103');
    assert.equal(snapshotSees(snapshot, 99), true, 'below xmin');
    assert.equal(snapshotSees(snapshot, 100), false, 'in progress (xmin itself)');
    assert.equal(snapshotSees(snapshot, 101), true, 'committed between xmin and xmax');
    assert.equal(snapshotSees(snapshot, 103), false, 'in progress');
    assert.equal(snapshotSees(snapshot, 105), false, 'started after');
  });

  it('widens a 32-bit xid to the 64-bit one nearest the snapshot, across an xid epoch', () => {
    const epoch = 1n << 32n;
    assert.equal(widenXid(10, epoch + 5n), epoch + 10n);
    assert.equal(widenXid(0xfffffff0, epoch + 5n), 0xfffffff0n, 'just before the epoch turned');
    assert.equal(widenXid(3, epoch - 10n), epoch + 3n, 'just after it turned');
    const snapshot = parseSnapshotXids(`${epoch - 2n}:${epoch + 2n}:${epoch + 1n}`);
    assert.equal(snapshotSees(snapshot, 0), true);
    assert.equal(snapshotSees(snapshot, 1), false);
    assert.equal(snapshotSees(snapshot, 0xfffffffd), true);
  });
});

describe('SnapshotGate', () => {
  const xids = parseSnapshotXids('100:105:103');
  const seenBelow = asLsn(1000n);

  it('holds transactions until the snapshot is taken, then sorts them in commit order', () => {
    const gate = new SnapshotGate();
    const shape = {} as TableShape;
    assert.equal(gate.verdict(101, asLsn(500n)), 'hold');
    const committed: string[][] = [];
    const discarded: string[] = [];
    const spool = {
      commitParts: (parts: readonly ShapedKeys[]) => void committed.push(parts.flatMap((part) => part.keys)),
      discard: (key: string) => void discarded.push(key),
    };
    gate.hold([{ shape, keys: ['a'] }], { xid: 101, commitLsn: asLsn(500n), commitTime: '' });
    gate.hold([{ shape, keys: ['b'] }], { xid: 103, commitLsn: asLsn(600n), commitTime: '' });
    gate.hold([{ shape, keys: ['c'] }], { xid: 104, commitLsn: asLsn(700n), commitTime: '' });
    assert.equal(gate.oldestHeldLsn, 500n);
    const sorted = gate.resolve(xids, seenBelow, spool as never);
    assert.deepEqual(sorted, { inBase: 2, applied: 1 });
    assert.deepEqual(discarded, ['a', 'c']);
    assert.deepEqual(committed, [['b']]);
    assert.equal(gate.oldestHeldLsn, undefined);
    assert.equal(gate.ready, false, 'epochs wait for the base');
  });

  it('applies whatever committed at or above the position read after the snapshot, whatever its xid', () => {
    const gate = SnapshotGate.committed(xids, seenBelow);
    assert.equal(gate.ready, true);
    assert.equal(gate.verdict(101, asLsn(999n)), 'in-base');
    assert.equal(gate.verdict(103, asLsn(999n)), 'apply');
    assert.equal(gate.verdict(101, asLsn(1000n)), 'apply');
  });
});

describe('keyAfterRelation', () => {
  const columns = (...keys: string[]) => ['a', 'b', 'c'].map((name) => ({ name, isKey: keys.includes(name) }));

  it('follows the flagged columns under DEFAULT and USING INDEX, in the current order when only that differs', () => {
    assert.deepEqual(keyAfterRelation(['a'], { replicaIdentity: 'd', columns: columns('a', 'b') }), ['a', 'b']);
    assert.deepEqual(keyAfterRelation(['a'], { replicaIdentity: 'i', columns: columns('c') }), ['c']);
    assert.equal(keyAfterRelation(['b', 'a'], { replicaIdentity: 'd', columns: columns('a', 'b') }), undefined);
  });

  it('keeps the key under FULL, and drops it under NOTHING', () => {
    assert.equal(keyAfterRelation(['a'], { replicaIdentity: 'f', columns: columns('a', 'b', 'c') }), undefined);
    assert.deepEqual(keyAfterRelation(['a'], { replicaIdentity: 'n', columns: columns() }), []);
    assert.equal(keyAfterRelation([], { replicaIdentity: 'n', columns: columns() }), undefined);
  });
});
