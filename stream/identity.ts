import type { TableShape } from '../core/types/evolution.js';
import type { ReplicaIdentity } from '../source/replication/messages.js';

/** What a Relation message says about how the table's rows are identified. */
export interface RelationKey {
  readonly replicaIdentity: ReplicaIdentity;
  readonly columns: readonly { readonly name: string; readonly isKey: boolean }[];
}

/**
 * The key a routed table is identified by after a Relation message, given the key it had (`current`, the primary
 * key in key order; empty for a table replicated as a multiset of whole rows). pgoutput flags the columns of the
 * replica identity: under REPLICA IDENTITY DEFAULT the primary key's, under USING INDEX the index's (unique, not
 * null: a key as good as a primary key), none under NOTHING (PostgreSQL then refuses updates and deletes, so the
 * rows that still come are inserts, kept as a multiset), and every column under FULL, which says nothing about the
 * key: the current one is kept (a primary-key change under FULL is taken up by the next `pg-cdc start`, which reads
 * the key from the catalog). Returns undefined when the key stays as it is; the current key's order is kept when
 * only the flags' order differs.
 */
export function keyAfterRelation(current: readonly string[], relation: RelationKey): string[] | undefined {
  if (relation.replicaIdentity === 'f') return undefined;
  const flagged = relation.columns.filter((c) => c.isKey).map((c) => c.name);
  const same = flagged.length === current.length && flagged.every((name) => current.includes(name));
  return same ? undefined : flagged;
}

/**
 * `shape` identified by `key` from now on. The state schema's identifier-field-ids follow the key, so the shape is a
 * new schema version of its own unless it is one already (`newVersion` false: a column change at the same point).
 * A shape's fills belong to the change that made it, not to a key change after it.
 */
export function withPrimaryKey(shape: TableShape, key: readonly string[], newVersion: boolean): TableShape {
  const { fills: _fills, ...rest } = shape;
  const keyed = { ...rest, source: { ...shape.source, primaryKey: [...key] } };
  if (!newVersion) return _fills === undefined ? keyed : { ...keyed, fills: _fills };
  return { ...keyed, schemaId: shape.schemaId + 1 };
}

/** For the log: `key (id) → (id, region)`, `key (id) → whole row`. */
export function describeKeyChange(from: readonly string[], to: readonly string[]): string {
  const text = (key: readonly string[]): string => (key.length === 0 ? 'whole row' : `(${key.join(', ')})`);
  return `key ${text(from)} → ${text(to)}`;
}
