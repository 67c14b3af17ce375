import type { Command } from 'commander';
import type { PgCdcConfig } from '../../core/config/index.js';
import { scheduleIds } from '../../core/temporal/index.js';
import { matchesTableGlob } from '../../core/selection/index.js';
import { GovernanceError } from '../../governance/errors.js';
import { formatDrift, formatResourceList, formatResourceView } from '../../governance/format.js';
import {
  diffIntent,
  locateInLake,
  readLakeInventory,
  registerLake,
  requireLakeInventory,
  syncIntent,
} from '../../governance/intent.js';
import {
  driftCount,
  formatLakeFormation,
  healedCount,
  reconcileLakeFormation,
  type LakeFormationReconciliation,
} from '../../governance/lakeformation/index.js';
import type { Registry } from '../../governance/registry.js';
import { formatResource, parseResource, type Resource } from '../../governance/resource.js';
import type { Change } from '../../governance/audit.js';
import { compileRoles } from '../../governance/roles.js';
import { formatTags, parseTagAssignment } from '../../governance/tags.js';
import { listViews, resourceView } from '../../governance/views.js';
import type { CommandContext } from '../context.js';
import { EXIT } from '../exit.js';
import { ACL_SYNC_EVERY, ensureAclSyncSchedule } from '../acl-sync.js';
import { registerBreakGlass, withTemporal } from './acl-break-glass.js';
import { changeOf, print, printJson, requireReason, withRegistry, type ChangeOptions } from './acl-common.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function registerClassification(acl: Command, program: Command): void {
  acl
    .command('register [resources...]')
    .description('register lake resources at version 0 with the tags of tables.tags (all of the lake by default)')
    .option('--actor <name>', 'who registers, for the audit (default: $USER)')
    .option('--reason <text>', 'why, for the audit', 'registration')
    .option('--json', 'machine-readable output')
    .action((resources: string[], options: ChangeOptions & { json?: boolean }) =>
      withRegistry(program, async ({ config }, registry) => {
        const inventory = await requireLakeInventory(config);
        const only = resources.length > 0 ? resources.map(parseResource) : undefined;
        const result = await registerLake(registry, config, inventory, changeOf(options, 'registration'), only);
        if (options.json) return printJson({ ...result, policyVersion: await registry.policyVersion() });
        print(`${result.created.length} registered, ${result.existing.length} already registered`);
        for (const text of result.created) print(`  + ${text}`);
      }),
    );

  acl
    .command('get <resource>')
    .description('own and effective (inherited) tags of a resource, its version and the roles its tags admit')
    .option('--history', 'include its audit trail')
    .option('--json', 'machine-readable output')
    .action((text: string, options: { history?: boolean; json?: boolean }) =>
      withRegistry(program, async ({ config }, registry) => {
        const resource = parseResource(text);
        if (!(await registry.get(resource))) {
          const inventory = await readLakeInventory(config);
          if (inventory) locateInLake(inventory, resource);
        }
        const view = await resourceView(registry, compileRoles(config.governance), resource, options);
        if (options.json) printJson(view);
        else print(formatResourceView(view));
      }),
    );

  acl
    .command('set <resource>')
    .description('set (and --unset) own tags of a registered resource: bumps its version, audited')
    .option('--tag <key=value>', 'a tag to set (repeatable)', collect, [])
    .option('--unset <key>', 'a tag key to remove (repeatable)', collect, [])
    .requiredOption('--reason <text>', 'why, for the audit')
    .option('--actor <name>', 'who, for the audit (default: $USER)')
    .option('--json', 'machine-readable output')
    .action((text: string, options: ChangeOptions & { tag: string[]; unset: string[]; json?: boolean }) =>
      withRegistry(program, async ({ config, log }, registry) => {
        const resource = parseResource(text);
        if (options.tag.length === 0 && options.unset.length === 0) {
          throw new GovernanceError('ACL_SET_EMPTY', 'nothing to set', {
            hint: 'give at least one --tag key=value or --unset key',
          });
        }
        requireReason(options);
        const set = Object.fromEntries(options.tag.map(parseTagAssignment));
        const { changed, record } = await registry.setTags(
          resource,
          { set, unset: options.unset },
          changeOf(options, ''),
        );
        warnConfigOwnedKeys(config.tables.tags, resource, [...Object.keys(set), ...options.unset], log);
        const policyVersion = await registry.policyVersion();
        if (options.json) return printJson({ changed, ...record, policyVersion });
        print(
          changed
            ? `${record.text}: version ${record.version}, tags ${formatTags(record.tags)} (policy_version ${policyVersion})`
            : `${record.text}: unchanged (version ${record.version}, tags ${formatTags(record.tags)})`,
        );
      }),
    );

  acl
    .command('list')
    .description('registered resources with their tags; --unclassified: the tables no role can see by tags')
    .option('--unclassified', 'only tables whose effective tags lack governance.require_tags (or are empty)')
    .option('--json', 'machine-readable output')
    .action((options: { unclassified?: boolean; json?: boolean }) =>
      withRegistry(program, async ({ config }, registry) => {
        const inventory = await readLakeInventory(config);
        const views = await listViews(registry, compileRoles(config.governance), inventory, {
          unclassified: options.unclassified === true,
          requireTags: config.governance.require_tags,
        });
        if (options.json) return printJson(views);
        print(formatResourceList(views, options.unclassified ? 'unclassified tables' : 'registered resources'));
      }),
    );

  acl
    .command('diff')
    .description(
      'drift between pg-cdc.yml (tables.tags, the lake), the registry and, with governance.catalog: glue, ' +
        'Lake Formation: exit 0 clean, 3 drift found, 2 an AWS error',
    )
    .option('--json', 'machine-readable output')
    .action((options: { json?: boolean }) =>
      withRegistry(program, async ({ config }, registry) => {
        const inventory = await requireLakeInventory(config);
        const report = await diffIntent(registry, config, inventory);
        const lakeFormation = await lakeFormationOf(config, registry, inventory.database, {
          heal: false,
          change: changeOf({}, 'acl diff'),
        });
        if (options.json) printJson({ ...report, ...(lakeFormation ? { lakeFormation } : {}) });
        else print([formatDrift(report), ...(lakeFormation ? [formatLakeFormation(lakeFormation)] : [])].join('\n'));
        if (report.drift.length > 0 || (lakeFormation && driftCount(lakeFormation) > 0)) {
          process.exitCode = EXIT.driftHealed;
        }
      }),
    );

  acl
    .command('sync')
    .description(
      'heal drift: register what is missing, restore tags pg-cdc.yml sets, and put Lake Formation back to the ' +
        'registry (governance.catalog: glue); exit 0 clean, 3 healed, 2 an AWS error',
    )
    .option('--actor <name>', 'who, for the audit (default: $USER)')
    .option('--reason <text>', 'why, for the audit', 'acl sync: pg-cdc.yml tables.tags')
    .option('--schedule', `also create the Temporal Schedule running aclSyncWorkflow every ${ACL_SYNC_EVERY}`)
    .option('--json', 'machine-readable output')
    .action((options: ChangeOptions & { json?: boolean; schedule?: boolean }) =>
      withRegistry(program, async (context, registry) => {
        const { config } = context;
        const inventory = await requireLakeInventory(config);
        const change = changeOf(options, 'acl sync');
        const healed = await syncIntent(registry, config, inventory, change);
        const report = await diffIntent(registry, config, inventory);
        const lakeFormation = await lakeFormationOf(config, registry, inventory.database, { heal: true, change });
        if (options.json) {
          printJson({
            ...report,
            healed,
            ...(lakeFormation ? { lakeFormation } : {}),
            policyVersion: await registry.policyVersion(),
          });
        } else {
          print(
            [formatDrift(report, healed), ...(lakeFormation ? [formatLakeFormation(lakeFormation)] : [])].join('\n'),
          );
        }
        if (options.schedule) {
          const { database } = inventory;
          const outcome = await withTemporal(context, (client, temporal) =>
            ensureAclSyncSchedule({ client, taskQueue: temporal.taskQueue, database, log: context.log }),
          );
          if (!options.json) print(`schedule ${scheduleIds.aclSync(database)}: ${outcome}, every ${ACL_SYNC_EVERY}`);
        }
        if (healed.length > 0 || (lakeFormation && healedCount(lakeFormation) > 0)) {
          process.exitCode = EXIT.driftHealed;
        }
      }),
    );
}

/** Lake Formation's side of diff and sync, when governance.catalog is glue. */
function lakeFormationOf(
  config: PgCdcConfig,
  registry: Registry,
  db: string,
  options: { heal: boolean; change: Change },
): Promise<LakeFormationReconciliation | undefined> {
  if (config.governance.catalog !== 'glue') return Promise.resolve(undefined);
  return reconcileLakeFormation(config, registry, db, options);
}

/** `acl sync` puts back keys pg-cdc.yml sets on a table: say so when `acl set` changes one. */
function warnConfigOwnedKeys(
  rules: Readonly<Record<string, Readonly<Record<string, string>>>>,
  resource: Resource,
  keys: readonly string[],
  log: CommandContext['log'],
): void {
  if (resource.kind !== 'table') return;
  const owned = Object.entries(rules)
    .filter(([pattern]) => matchesTableGlob(pattern, resource.schema, resource.table))
    .flatMap(([, tags]) => Object.keys(tags));
  const clash = keys.filter((key) => owned.includes(key));
  if (clash.length > 0) {
    log.warn(
      { resource: formatResource(resource), keys: clash },
      'pg-cdc.yml tables.tags sets these keys: `pg-cdc acl sync` will restore its values; change the file to change them for good',
    );
  }
}

export function registerAcl(program: Command): void {
  const acl = program
    .command('acl')
    .description('governance registry: classify lake resources with tags, audit, drift, break-glass grants');
  registerClassification(acl, program);
  registerBreakGlass(acl, program);
}
