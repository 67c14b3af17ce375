/** Committing flush epochs to the lake: the state table, its changelog, and the locator that keeps epochs cheap. */
export { commitEpoch, prepareLocator, type EpochContext } from './commit.js';
export { ChangeBatchError, EpochGapError, EpochMismatchError, EpochStateError } from './errors.js';
export { epochSnapshotId } from './naming.js';
export type * from './types.js';
