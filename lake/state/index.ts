/** Committing flush epochs to the lake: the state table, its changelog, and the locator that keeps epochs cheap. */
export { changelogSchema, CHANGELOG_ID_OFFSET, UNCHANGED_TOAST_ELEMENT_ID } from './changelog.js';
export { commitEpoch, prepareLocator, type EpochContext } from './commit.js';
export { settleLocatorUpdates } from './locator-updates.js';
export { ChangeBatchError, EpochGapError, EpochMismatchError, EpochStateError } from './errors.js';
export { changelogIdentifier, changelogLocation, epochSnapshotId } from './naming.js';
export type * from './types.js';
