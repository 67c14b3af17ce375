/**
 * The names and places of pg-cdc's tables in the lake. A source table `public.orders` is the state table
 * `public.orders` at `public/orders`; its changelog is `public.orders__changes` at `public/orders__changes`.
 * Writers, the query engine, governance and the API all derive one from the other through these functions.
 */
export const CHANGELOG_SUFFIX = '__changes';

/** `public.orders` → `public.orders__changes`. */
export const changelogIdentifier = (stateIdentifier: string): string => `${stateIdentifier}${CHANGELOG_SUFFIX}`;

/** `public/orders` → `public/orders__changes`. */
export const changelogLocation = (stateLocation: string): string => `${stateLocation}${CHANGELOG_SUFFIX}`;

/** Whether `identifier` names a changelog (by its name: whether its state table exists is the caller's question). */
export const isChangelogIdentifier = (identifier: string): boolean =>
  identifier.length > CHANGELOG_SUFFIX.length && identifier.endsWith(CHANGELOG_SUFFIX);

/** The state table a changelog follows; a state table's own identifier. */
export const stateIdentifierOf = (identifier: string): string =>
  isChangelogIdentifier(identifier) ? identifier.slice(0, -CHANGELOG_SUFFIX.length) : identifier;

/** A table's place in the lake: `<schema>/<table>`, each part escaped so that no name can climb out or collide. */
export function tableLocation(schema: string, name: string): string {
  const segment = (part: string): string => encodeURIComponent(part).replace(/\./g, '%2E');
  return `${segment(schema)}/${segment(name)}`;
}
