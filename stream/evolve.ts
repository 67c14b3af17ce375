import type pg from 'pg';
import {
  evolveShape,
  matchColumns,
  sameRelation,
  type ColumnChange,
  type TableShape,
} from '../core/types/evolution.js';
import type { Logger } from '../core/log/index.js';
import { describeRelation } from '../source/columns.js';
import { connectSource, type SourceSettings } from '../source/connection.js';
import type { RelationMessage } from '../source/replication/messages.js';
import type { TableRoute } from './routes.js';

export interface Evolution {
  readonly shape: TableShape;
  readonly changes: readonly ColumnChange[];
}

/**
 * Works out what a Relation message changed in a routed table's columns (docs/schema-evolution.md). pgoutput sends
 * a Relation before the first change of a table in a session and again after anything invalidated its cache, an
 * ALTER among other things; the message lists the columns as they are at that point of the WAL, in attnum order,
 * without attnums. The catalog (read now, on a connection of its own) resolves the types and, when it still shows
 * the same columns, gives the attnums that tell a column dropped and added again under its name from the old one.
 */
export class RelationEvolver {
  private client: Promise<pg.Client> | undefined;
  /** Relations described in this session: a second Relation for one of them follows an invalidation. */
  private readonly seen = new Set<number>();

  constructor(
    private readonly source: SourceSettings,
    private readonly log: Logger,
  ) {}

  /**
   * The route's next shape when `message` changes its columns; undefined when it does not. A Relation listing the
   * route's columns unchanged is checked against the catalog only when it is not the session's first for the table.
   */
  async evolution(route: TableRoute, message: RelationMessage): Promise<Evolution | undefined> {
    const again = this.seen.has(message.relationId);
    this.seen.add(message.relationId);
    const unchanged = sameRelation(route.shape, message.columns);
    if (unchanged && !again) return undefined;
    this.client ??= connectSource(this.source, { log: this.log });
    let described;
    try {
      described = await describeRelation(await this.client, message.schema, message.name, message.columns);
    } catch (error) {
      await this.close();
      throw error;
    }
    const previous = route.shape.source;
    if (unchanged && described.attnums === undefined) return undefined;
    const matches = matchColumns(previous.columns, message.columns, described.attnums);
    // The key follows its columns through renames; a key change of its own is not a column change.
    const renamed = new Map(
      matches.flatMap((from, i) =>
        from === undefined ? [] : [[previous.columns[from]!.name, message.columns[i]!.name]],
      ),
    );
    const primaryKey = previous.primaryKey.flatMap((name) => (renamed.has(name) ? [renamed.get(name)!] : []));
    const { shape, changes } = evolveShape(
      route.shape,
      { ...described.table, primaryKey },
      matches,
      described.defaults,
    );
    if (changes.length === 0) return undefined;
    if (!described.attnums && !isSingleAlter(changes)) {
      this.log.warn(
        { table: route.table, changes },
        'several column changes between two changes of the table, and the catalog has moved on since: columns were matched by name (a rename reads as a drop and an add)',
      );
    }
    return { shape, changes };
  }

  /** A new replication session: every relation will be described again. */
  reset(): void {
    this.seen.clear();
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.then((c) => c.end()).catch(() => undefined);
  }
}

const isSingleAlter = (changes: readonly ColumnChange[]): boolean => changes.length === 1;

/** One line per change, for the log and the audit trail: `add c (id 7)`, `rename a → b (id 2)`. */
export function describeChanges(changes: readonly ColumnChange[]): string[] {
  return changes.map((c) => {
    switch (c.kind) {
      case 'add':
        return `add ${c.column} (id ${c.fieldId})`;
      case 'drop':
        return `drop ${c.column} (id ${c.fieldId})`;
      case 'rename':
        return `rename ${c.from} → ${c.to} (id ${c.fieldId})`;
      case 'type':
        return c.promoted
          ? `type of ${c.column} ${c.from} → ${c.to} (promoted, id ${c.fieldId})`
          : `type of ${c.column} ${c.from} → ${c.to} (new id ${c.fieldId}; old values kept as ${c.retiredAs})`;
    }
  });
}
