/**
 * `pg-cdc discover --acl`: for every role, the lake tables and columns it can read now (tags and break-glass grants),
 * and the tables no role can read. Changelogs (`<t>__changes`) follow their table and are not listed.
 */
import type { PgCdcConfig } from '../core/config/index.js';
import { readLakeInventory } from './intent.js';
import { openAccessPolicy } from './policy.js';
import type { Registry } from './registry.js';
import { compileRoles } from './roles.js';
import type { TableGrant } from './types.js';

export interface RoleAccess {
  readonly role: string;
  readonly grant: string;
  readonly description?: string;
  readonly tables: readonly TableGrant[];
}

export interface AccessMap {
  /** undefined when the lake holds nothing yet. */
  readonly database: string | undefined;
  readonly policyVersion: number;
  readonly roles: readonly RoleAccess[];
  /** Lake tables that no role can read. */
  readonly invisible: readonly string[];
}

export async function buildAccessMap(config: PgCdcConfig, options: { registry?: Registry } = {}): Promise<AccessMap> {
  const roles = compileRoles(config.governance);
  const inventory = await readLakeInventory(config);
  const policy = openAccessPolicy(config, {
    ...(options.registry ? { registry: options.registry } : {}),
    ...(inventory ? { database: inventory.database } : {}),
  });
  try {
    const lake = (inventory?.tables ?? []).map((t) => ({ identifier: t.identifier, columns: t.columns }));
    const out: RoleAccess[] = [];
    const seen = new Set<string>();
    for (const role of roles.values()) {
      const decision = await policy.decide(role.name, lake);
      for (const table of decision.tables.keys()) seen.add(table);
      out.push({
        role: role.name,
        grant: role.source,
        ...(role.description === undefined ? {} : { description: role.description }),
        tables: [...decision.tables.values()],
      });
    }
    return {
      database: inventory?.database,
      policyVersion: await policy.policyVersion(),
      roles: out,
      invisible: lake.map((t) => t.identifier).filter((t) => !seen.has(t)),
    };
  } finally {
    await policy.close();
  }
}

export function formatAccessMap(map: AccessMap): string {
  if (map.database === undefined) return 'access map: the lake holds no tables yet (run `pg-cdc init`)';
  const lines = [`access map of ${map.database} (policy_version ${map.policyVersion}):`];
  if (map.roles.length === 0) lines.push('  no roles: add governance.roles to pg-cdc.yml');
  for (const role of map.roles) {
    lines.push(`  ${role.role}: ${role.grant}${role.description ? `  (${role.description})` : ''}`);
    if (role.tables.length === 0) lines.push('    (nothing)');
    const width = Math.max(0, ...role.tables.map((t) => t.table.length));
    for (const table of role.tables) {
      const via = table.via === 'break-glass' ? `  [break-glass until ${table.expiresAt ?? '?'}]` : '';
      lines.push(`    ${table.table.padEnd(width)}  ${table.columns.join(', ')}${via}`);
    }
  }
  if (map.invisible.length > 0) lines.push(`  invisible to every role: ${map.invisible.join(', ')}`);
  return lines.join('\n');
}
