/**
 * "schema.table" patterns from pg-cdc.yml (`tables.include`, `tables.exclude`, `tables.tags`). `*` matches any run
 * of characters and `?` exactly one, each within its own name part; everything else is literal and case-sensitive,
 * the way PostgreSQL compares quoted identifiers.
 */

export interface TableMatcher {
  readonly pattern: string;
  matches(schema: string, table: string): boolean;
}

function partToRegex(part: string): string {
  let out = '';
  for (const ch of part) {
    if (ch === '*') out += '.*';
    else if (ch === '?') out += '.';
    else out += ch.replace(/[\\^$.|+()[\]{}/]/g, '\\$&');
  }
  return out;
}

/**
 * The pattern is split at its first dot and each half is matched against the real schema and table names rather
 * than against a joined string: a quoted table name may itself contain a dot, and must not shift the split.
 */
export function compileTableGlob(pattern: string): TableMatcher {
  const dot = pattern.indexOf('.');
  if (dot < 0) {
    // Config validation rejects unqualified patterns; matching them against the whole name keeps this total.
    const whole = new RegExp(`^${partToRegex(pattern)}$`, 'su');
    return { pattern, matches: (schema, table) => whole.test(`${schema}.${table}`) };
  }
  const schemaRe = new RegExp(`^${partToRegex(pattern.slice(0, dot))}$`, 'su');
  const tableRe = new RegExp(`^${partToRegex(pattern.slice(dot + 1))}$`, 'su');
  return { pattern, matches: (schema, table) => schemaRe.test(schema) && tableRe.test(table) };
}

export function matchesTableGlob(pattern: string, schema: string, table: string): boolean {
  return compileTableGlob(pattern).matches(schema, table);
}

/** The first pattern of `patterns` that matches, in configuration order. */
export function firstMatch(patterns: readonly string[], schema: string, table: string): string | undefined {
  return patterns.find((pattern) => matchesTableGlob(pattern, schema, table));
}

export type TagRules = Readonly<Record<string, Readonly<Record<string, string>>>>;

/**
 * The tags `tables.tags` gives one table. Every matching pattern contributes, in file order, so a later, more
 * specific entry ("public.users") overrides keys set by an earlier, broader one ("public.*").
 */
export function resolveTags(tags: TagRules | undefined, schema: string, table: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!tags) return out;
  for (const [pattern, set] of Object.entries(tags)) {
    if (matchesTableGlob(pattern, schema, table)) Object.assign(out, set);
  }
  return out;
}
