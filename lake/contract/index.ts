/**
 * The lake's contract: what pg-cdc's writers promise its readers. Table and changelog names and places, the
 * changelog's schema and which of its columns are metadata, and the snapshot summary keys. LSNs, which cross
 * every boundary, have their codec in core/lsn.
 */
export * from './naming.js';
export * from './changelog-schema.js';
export * from './changelog-visibility.js';
export * from './summary.js';
export * from './diff.js';
