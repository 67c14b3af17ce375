import { existsSync } from 'node:fs';
import type { PgCdcConfig } from '../core/config/index.js';
import type { ColumnChange } from '../core/types/evolution.js';
import { Registry, registryPath, SYSTEM_ACTOR } from '../governance/index.js';
import { newColumnTags, type NewColumnsPolicy } from '../governance/new-columns.js';
import { columnResource, splitLakeIdentifier } from '../governance/resource.js';

/**
 * What a column change means to governance, recorded in the registry (and so in its audit log) when the
 * configuration has one. A column is a resource by name (`db.schema.table.column`), so a rename would leave the
 * column's own tags on the old name and let the new one inherit only its table's: the old name's tags are copied
 * to the new one, so a classified column stays classified. An added column is registered with no tags of its own
 * (it inherits its table's); both entries say which schema change made them.
 */
export async function recordColumnChanges(
  registry: Registry,
  database: string,
  table: string,
  schemaId: number,
  changes: readonly ColumnChange[],
  policy: NewColumnsPolicy = 'inherit',
): Promise<void> {
  const parts = splitLakeIdentifier(table);
  if (!parts) return;
  const column = (name: string) => columnResource(database, parts.schema, parts.table, name);
  for (const change of changes) {
    if (change.kind === 'rename') {
      const tags = (await registry.get(column(change.from)))?.tags ?? {};
      const reason = `column ${change.from} renamed to ${change.to} while streaming (schema ${schemaId}); its own tags follow it`;
      const { created } = await registry.register(column(change.to), tags, { actor: SYSTEM_ACTOR, reason });
      if (!created && Object.keys(tags).length > 0) {
        await registry.setTags(column(change.to), { set: tags }, { actor: SYSTEM_ACTOR, reason });
      }
    } else if (change.kind === 'add') {
      const reason =
        policy === 'hidden'
          ? `column ${change.column} added while streaming (schema ${schemaId}); hidden until classified (governance.new_columns: hidden)`
          : `column ${change.column} added while streaming (schema ${schemaId}); it inherits its table's tags`;
      await registry.register(column(change.column), newColumnTags(policy), { actor: SYSTEM_ACTOR, reason });
    }
  }
}

/** The configuration's registry when governance is in use (a DynamoDB one, or a local file that exists); none otherwise. */
export function openRegistryIfPresent(config: PgCdcConfig): Registry | undefined {
  if (config.governance.registry === 'local' && !existsSync(registryPath(config))) return undefined;
  return Registry.forConfig(config);
}
