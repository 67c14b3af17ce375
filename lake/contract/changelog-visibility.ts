import { isChangelogMetadataColumn, sourceColumnOf, UNCHANGED_TOAST_COLUMN } from './changelog-schema.js';

/**
 * Which columns of a changelog a reader sees, given the source columns it sees: the one rule that governance, the
 * query engine and the API apply alike.
 *
 * - A row column follows its source column, whatever its name (`_internal` is a row column like `email`).
 * - The metadata columns that describe the change (`_op`, `_commit_lsn`, `_commit_ts`, `_xid`, `_seq`) are seen
 *   with the table: by whoever sees at least one of its source columns.
 * - `_unchanged_toast` lists column names, hidden ones included, so only a reader who sees every column of the
 *   state table sees it.
 *
 * Anything else is not seen: the rule fails closed.
 */
export function visibleChangelogColumns(
  changelogColumns: readonly string[],
  /** The source columns the reader sees. */
  visibleSource: ReadonlySet<string>,
  /** The state table's columns; without them, the columns the changelog's row columns hold. */
  sourceColumns: readonly string[] = changelogSourceColumns(changelogColumns),
): string[] {
  if (!sourceColumns.some((c) => visibleSource.has(c))) return [];
  const seesAll = sourceColumns.every((c) => visibleSource.has(c));
  return changelogColumns.filter((column) => {
    if (column === UNCHANGED_TOAST_COLUMN) return seesAll;
    if (isChangelogMetadataColumn(column)) return true;
    return visibleSource.has(sourceColumnOf(column));
  });
}

/** The source columns a changelog's row columns hold, in table order. */
export function changelogSourceColumns(changelogColumns: readonly string[]): string[] {
  return changelogColumns.filter((c) => !isChangelogMetadataColumn(c)).map(sourceColumnOf);
}
