/**
 * Branches and the promotion cut without a server: commits go to staging once a table has it, main only
 * fast-forwards, and the cut is the highest LSN every table's staging admits, whichever way their epochs were sealed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { formatLsn } from '../../core/lsn/index.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import { LocalCatalog } from '../../lake/catalog/local.js';
import { pgcdcSummary } from '../../lake/contract/index.js';
import { LakeFormatError } from '../../lake/errors.js';
import { branchSnapshot, headSnapshot, withMainAt, withStagingBranch } from '../../lake/iceberg/refs.js';
import { appendFiles, commitMetadata, createTable, loadTableMetadata } from '../../lake/iceberg/table.js';
import { admittedCuts, consistentCut } from '../../lake/state/promotion.js';
import { FilesystemObjectStore } from '../../lake/storage/filesystem.js';

const root = mkdtempSync(join(tmpdir(), 'pg-cdc-lake-refs-'));
after(() => rmSync(root, { recursive: true, force: true }));

const schema: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  fields: [{ id: 1, name: 'id', required: true, type: 'long' }],
};

let n = 0;
/** A table with a base at LSN 0x10, staging forked there, then epochs spanning the given [first, last] LSNs. */
async function tableWithEpochs(epochs: readonly [number, number][]) {
  const store = new FilesystemObjectStore(join(root, `t${++n}`));
  const catalog = new LocalCatalog(store);
  await createTable(store, catalog, { identifier: 'public.t', location: 'public/t', schema });
  const summary = (kind: 'snapshot' | 'epoch', epoch: number, lsn: number, first?: number) =>
    pgcdcSummary({
      kind,
      epoch,
      lsn: formatLsn(BigInt(lsn)),
      ...(first === undefined ? {} : { firstLsn: formatLsn(BigInt(first)) }),
    });
  await appendFiles(store, catalog, 'public.t', { dataFiles: [], summary: summary('snapshot', 0, 0x10) });
  const base = await loadTableMetadata(store, catalog, 'public.t');
  await commitMetadata(store, catalog, base, withStagingBranch(base.metadata));
  let epoch = 0;
  for (const [first, last] of epochs) {
    await appendFiles(store, catalog, 'public.t', { dataFiles: [], summary: summary('epoch', ++epoch, last, first) });
  }
  return (await loadTableMetadata(store, catalog, 'public.t')).metadata;
}

describe('refs', () => {
  it('commits to staging once the table has it; main stays and only moves forward', async () => {
    const metadata = await tableWithEpochs([[0x20, 0x30]]);
    const main = branchSnapshot(metadata, 'main')!;
    const head = headSnapshot(metadata)!;
    assert.notEqual(head['snapshot-id'], main['snapshot-id']);
    assert.equal(metadata['current-snapshot-id'], main['snapshot-id']);
    const promoted = withMainAt(metadata, head['snapshot-id']);
    assert.equal(promoted['current-snapshot-id'], head['snapshot-id']);
    assert.equal(promoted.refs.main?.['snapshot-id'], head['snapshot-id']);
    assert.throws(() => withMainAt(promoted, main['snapshot-id']), LakeFormatError);
  });
});

describe('the promotion cut', () => {
  it('takes the highest LSN that every table admits when epochs straddle the slot position', async () => {
    // Table a sealed one epoch over [0x20, 0x60]; b sealed [0x20, 0x40] and [0x50, 0x60]. Slot at 0x58: a's epoch
    // holds transactions on both sides of it, so the cut falls back to 0x20 (a's base admits up to its first LSN).
    const a = await tableWithEpochs([[0x20, 0x60]]);
    const b = await tableWithEpochs([
      [0x20, 0x40],
      [0x50, 0x60],
    ]);
    const slot = 0x58n;
    const found = consistentCut(
      new Map([
        ['a', admittedCuts(a, slot)],
        ['b', admittedCuts(b, slot)],
      ]),
      slot,
    )!;
    assert.equal(found.cut, 0x20n);
    assert.equal(found.at.get('a'), branchSnapshot(a, 'main'));
    assert.equal(found.at.get('b'), branchSnapshot(b, 'main'));

    // Once the slot passes both heads, both move to them.
    const later = consistentCut(
      new Map([
        ['a', admittedCuts(a, 0x70n)],
        ['b', admittedCuts(b, 0x70n)],
      ]),
      0x70n,
    )!;
    assert.equal(later.cut, 0x70n);
    assert.equal(later.at.get('a'), headSnapshot(a));
    assert.equal(later.at.get('b'), headSnapshot(b));
  });

  it('cuts between two epochs of one table when the other is idle', async () => {
    const busy = await tableWithEpochs([
      [0x20, 0x30],
      [0x40, 0x50],
    ]);
    const idle = await tableWithEpochs([]);
    const found = consistentCut(
      new Map([
        ['busy', admittedCuts(busy, 0x45n)],
        ['idle', admittedCuts(idle, 0x45n)],
      ]),
      0x45n,
    )!;
    assert.equal(found.cut, 0x40n);
    assert.equal(found.at.get('busy')?.summary['pgcdc.epoch'], '1');
    assert.equal(found.at.get('idle'), headSnapshot(idle));
  });
});
