/**
 * `governance.mode: strict` refuses to publish untagged tables. `init` and `start` call `checkPublishable` (or
 * `assertPublishable`) with the tables they are about to publish, before writing anything: a table is tagged when
 * its effective tags (pg-cdc.yml's `tables.tags` over the registry's own tags, over the database's) hold every key
 * of `governance.require_tags`, or, with no required key, any tag at all.
 */
import { existsSync } from 'node:fs';
import type { PgCdcConfig } from '../core/config/index.js';
import { resolveTags } from '../core/selection/index.js';
import { UntaggedTablesError } from './errors.js';
import { Registry, registryPath } from './registry.js';
import { databaseResource, formatResource, splitLakeIdentifier, tableResource } from './resource.js';
import { formatTags, isEmptyTags, mergeTags, missingKeys, type Tags } from './tags.js';

export type PublishableTable = string | { readonly schema: string; readonly name: string };

export interface UntaggedTable {
  /** `schema.table`. */
  readonly table: string;
  /** What it would carry now. */
  readonly tags: Tags;
  /** The required keys it lacks (empty with no require_tags: it has no tag at all). */
  readonly missing: readonly string[];
  /** How to tag it, in pg-cdc.yml and with the CLI. */
  readonly fix: string;
}

export interface PublishCheck {
  /** false only in strict mode with an untagged table. */
  readonly ok: boolean;
  readonly mode: PgCdcConfig['governance']['mode'];
  readonly requireTags: readonly string[];
  /** Every untagged table, in both modes (permissive mode publishes them, invisible to every role). */
  readonly untagged: readonly UntaggedTable[];
}

export interface PublishOptions {
  /** The source database name, to read the registry's tags of these tables; without it only pg-cdc.yml counts. */
  readonly database?: string;
  /** An open registry; default: the configuration's local registry when its file exists. */
  readonly registry?: Registry;
}

const placeholder = (key: string): string => `${key}=<value>`;

/** pg-cdc.yml always works; `acl set` only for a table the registry has (one already in the lake). */
async function fixFor(
  table: string,
  database: string | undefined,
  registry: Registry | undefined,
  missing: readonly string[],
): Promise<string> {
  const keys = missing.length > 0 ? missing : ['sensitivity'];
  const yaml = `tables.tags: { "${table}": { ${keys.map((k) => `${k}: <value>`).join(', ')} } } in pg-cdc.yml`;
  const parts = splitLakeIdentifier(table);
  const registered =
    database && parts ? await registry?.get(tableResource(database, parts.schema, parts.table)) : undefined;
  if (!registered) return `add ${yaml}`;
  const resource = formatResource(registered.resource);
  const flags = keys.map((k) => `--tag ${placeholder(k)}`).join(' ');
  return `add ${yaml}, or run: pg-cdc acl set ${resource} ${flags} --reason "..."`;
}

async function registryTags(
  registry: Registry | undefined,
  database: string | undefined,
  table: string,
): Promise<Tags> {
  const parts = splitLakeIdentifier(table);
  if (!registry || !database || !parts) return {};
  return mergeTags(
    (await registry.get(databaseResource(database)))?.tags,
    (await registry.get(tableResource(database, parts.schema, parts.table)))?.tags,
  );
}

/**
 * Whether the registry has anything to say: a local file that exists, or a DynamoDB table when strict mode must
 * refuse (in permissive mode the answer only warns, and a publish must not wait on AWS for it).
 */
const registryInUse = (config: PgCdcConfig): boolean =>
  config.governance.registry === 'local' ? existsSync(registryPath(config)) : config.governance.mode === 'strict';

/** Which of `tables` are untagged, and how to tag them; `ok` is false when strict mode must refuse them. */
export async function checkPublishable(
  config: PgCdcConfig,
  tables: readonly PublishableTable[],
  options: PublishOptions = {},
): Promise<PublishCheck> {
  const { mode, require_tags: requireTags } = config.governance;
  const opened = options.registry === undefined && registryInUse(config) ? Registry.forConfig(config) : undefined;
  const registry = options.registry ?? opened;
  try {
    const untagged: UntaggedTable[] = [];
    for (const entry of tables) {
      const table = typeof entry === 'string' ? entry : `${entry.schema}.${entry.name}`;
      const parts = splitLakeIdentifier(table);
      const configured = parts ? resolveTags(config.tables.tags, parts.schema, parts.table) : {};
      const tags = mergeTags(await registryTags(registry, options.database, table), configured);
      const missing = missingKeys(tags, requireTags);
      if (missing.length > 0 || isEmptyTags(tags)) {
        untagged.push({ table, tags, missing, fix: await fixFor(table, options.database, registry, missing) });
      }
    }
    return { ok: mode !== 'strict' || untagged.length === 0, mode, requireTags, untagged };
  } finally {
    await opened?.close();
  }
}

/** `checkPublishable`, throwing UNTAGGED_TABLES (with the fix for each table) when strict mode refuses. */
export async function assertPublishable(
  config: PgCdcConfig,
  tables: readonly PublishableTable[],
  options: PublishOptions = {},
): Promise<PublishCheck> {
  const check = await checkPublishable(config, tables, options);
  if (!check.ok) {
    const lines = check.untagged.map(
      (t) =>
        `${t.table} (${t.missing.length > 0 ? `missing ${t.missing.join(', ')}` : 'no tags'}; has ${formatTags(t.tags)}): ${t.fix}`,
    );
    throw new UntaggedTablesError(
      check.untagged.map((t) => t.table),
      `tag each table, or set governance.mode: permissive to publish it invisible to every role:\n    ${lines.join('\n    ')}`,
    );
  }
  return check;
}
