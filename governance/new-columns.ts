import type { PgCdcConfig } from '../core/config/index.js';
import type { Tags } from './tags.js';

/**
 * What a column added while streaming means to governance (`governance.new_columns`):
 * - `inherit`: it carries its table's tags, as every unclassified column does;
 * - `hidden` (the default in strict mode): it is registered with the marker below as its own tag, and no role sees
 *   it (a break-glass grant aside) until someone classifies it: the first `acl set` on it removes the marker. So
 *   nothing new reaches an agent without a decision.
 */
export type NewColumnsPolicy = 'inherit' | 'hidden';

/** The own tag that keeps a new column hidden; set by the stream, removed by the column's first classification. */
export const UNCLASSIFIED_TAG = 'pgcdc.unclassified';
export const UNCLASSIFIED_VALUE = 'new-column';

export function newColumnsPolicy(config: Pick<PgCdcConfig, 'governance'>): NewColumnsPolicy {
  return config.governance.new_columns ?? (config.governance.mode === 'strict' ? 'hidden' : 'inherit');
}

/** The own tags a column added while streaming is registered with under `policy`. */
export function newColumnTags(policy: NewColumnsPolicy): Tags {
  return policy === 'hidden' ? { [UNCLASSIFIED_TAG]: UNCLASSIFIED_VALUE } : {};
}

/** Whether a column's own tags keep it hidden from every role. */
export const isHiddenNewColumn = (ownTags: Tags | undefined): boolean => ownTags?.[UNCLASSIFIED_TAG] !== undefined;

/**
 * The value a hidden column carries in Lake Formation under every tag key a role's grant names: no grant admits it
 * (planRoleGrants refuses one that names it).
 */
export const HIDDEN_IN_LAKE_FORMATION = 'pgcdc.unclassified';

/**
 * A column's own tags as Lake Formation must hold them. LF-tag grants are conjunctions of `key IN values` with no
 * negation, so the marker alone hides nothing there: a grant on the table's inherited tags would still admit the
 * column. A hidden column gets, on top of its own tags, HIDDEN_IN_LAKE_FORMATION under every key the grants name;
 * a column tag overrides the table's, so every conjunction fails on it. Classifying the column (`acl set`) removes
 * the marker, and the next sync these values with it.
 */
export function lakeFormationColumnTags(ownTags: Tags, grantKeys: Iterable<string>): Tags {
  if (!isHiddenNewColumn(ownTags)) return ownTags;
  const hidden: Record<string, string> = { ...ownTags };
  for (const key of grantKeys) if (key !== UNCLASSIFIED_TAG) hidden[key] = HIDDEN_IN_LAKE_FORMATION;
  return hidden;
}

/**
 * The tags a classification leaves: an edit that does not itself set the marker removes it (classifying a hidden
 * column is what makes it visible).
 */
export function classified(next: Tags, set: Tags): Tags {
  if (next[UNCLASSIFIED_TAG] === undefined || set[UNCLASSIFIED_TAG] !== undefined) return next;
  const { [UNCLASSIFIED_TAG]: _marker, ...rest } = next;
  return rest;
}
