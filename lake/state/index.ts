/**
 * Committing to the lake: a table's base snapshot (epoch 0), then its flush epochs (the state table, its changelog,
 * and the locator that keeps epochs cheap), each recorded in the manifest by one entry writer.
 */
export { commitBase, type BaseCommit, type BaseContext } from './base.js';
export { commitEpoch, prepareLocator, type EpochContext } from './commit.js';
export { locatorRoot, settleLocatorUpdates } from './locator-updates.js';
export { ChangeBatchError, EpochGapError, EpochMismatchError, EpochStateError } from './errors.js';
export { epochSnapshotId } from './naming.js';
export type * from './types.js';
