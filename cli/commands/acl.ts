import { userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import type { Command } from 'commander';
import { parseDuration } from '../../core/config/index.js';
import { matchesTableGlob } from '../../core/selection/index.js';
import { workflowIds } from '../../core/temporal/index.js';
import { BreakGlassError, GovernanceError } from '../../governance/errors.js';
import { formatDrift, formatGrants, formatResourceList, formatResourceView } from '../../governance/format.js';
import type { BreakGlassGrant } from '../../governance/grants.js';
import {
  diffIntent,
  locateInLake,
  readLakeInventory,
  registerLake,
  requireLakeInventory,
  syncIntent,
} from '../../governance/intent.js';
import { Registry } from '../../governance/registry.js';
import { formatResource, parseResource, type Resource } from '../../governance/resource.js';
import { compileRoles, requireRole } from '../../governance/roles.js';
import { formatTags, parseTagAssignment } from '../../governance/tags.js';
import { listViews, resourceView } from '../../governance/views.js';
import type { Change } from '../../governance/store.js';
import { connectClient, resolveTemporal } from '../../workers/connection.js';
import { extendSignal, parseTtl, revokeSignal } from '../../workflows/breakglass-messages.js';
import type { breakGlassWorkflow } from '../../workflows/breakglass.js';
import { loadContext, type CommandContext, type GlobalOptions } from '../context.js';
import { EXIT } from '../exit.js';

interface ChangeOptions {
  readonly actor?: string;
  readonly reason?: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
const print = (text: string): void => void process.stdout.write(`${text}\n`);
const printJson = (value: unknown): void => print(JSON.stringify(value, null, 2));

function actorOf(options: ChangeOptions): string {
  if (options.actor?.trim()) return options.actor.trim();
  const fromEnv = process.env.USER ?? process.env.USERNAME;
  if (fromEnv) return fromEnv;
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

const changeOf = (options: ChangeOptions, defaultReason: string): Change => ({
  actor: actorOf(options),
  reason: options.reason?.trim() || defaultReason,
});

/** Run `work` with the context and the configuration's registry, closing the registry after. */
async function withRegistry<T>(
  program: Command,
  work: (context: CommandContext, registry: Registry) => Promise<T> | T,
): Promise<T> {
  const context = await loadContext(program.opts<GlobalOptions>());
  const registry = Registry.forConfig(context.config);
  try {
    return await work(context, registry);
  } finally {
    registry.close();
  }
}

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
        const result = registerLake(registry, config, inventory, changeOf(options, 'registration'), only);
        if (options.json) return printJson({ ...result, policyVersion: registry.policyVersion() });
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
        if (!registry.get(resource)) {
          const inventory = await readLakeInventory(config);
          if (inventory) locateInLake(inventory, resource);
        }
        const view = resourceView(registry, compileRoles(config.governance), resource, options);
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
      withRegistry(program, ({ config, log }, registry) => {
        const resource = parseResource(text);
        if (options.tag.length === 0 && options.unset.length === 0) {
          throw new GovernanceError('ACL_SET_EMPTY', 'nothing to set', {
            hint: 'give at least one --tag key=value or --unset key',
          });
        }
        requireReason(options);
        const set = Object.fromEntries(options.tag.map(parseTagAssignment));
        const { changed, record } = registry.setTags(resource, { set, unset: options.unset }, changeOf(options, ''));
        warnConfigOwnedKeys(config.tables.tags, resource, [...Object.keys(set), ...options.unset], log);
        if (options.json) return printJson({ changed, ...record, policyVersion: registry.policyVersion() });
        print(
          changed
            ? `${record.text}: version ${record.version}, tags ${formatTags(record.tags)} (policy_version ${registry.policyVersion()})`
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
        const views = listViews(registry, compileRoles(config.governance), inventory, {
          unclassified: options.unclassified === true,
          requireTags: config.governance.require_tags,
        });
        if (options.json) return printJson(views);
        print(formatResourceList(views, options.unclassified ? 'unclassified tables' : 'registered resources'));
      }),
    );

  acl
    .command('diff')
    .description('drift between pg-cdc.yml (tables.tags, the lake) and the registry: exit 0 clean, 3 drift found')
    .option('--json', 'machine-readable output')
    .action((options: { json?: boolean }) =>
      withRegistry(program, async ({ config }, registry) => {
        const report = diffIntent(registry, config, await requireLakeInventory(config));
        if (options.json) printJson(report);
        else print(formatDrift(report));
        if (report.drift.length > 0) process.exitCode = EXIT.driftHealed;
      }),
    );

  acl
    .command('sync')
    .description('heal drift: register what is missing, restore tags pg-cdc.yml sets; exit 0 clean, 3 healed')
    .option('--actor <name>', 'who, for the audit (default: $USER)')
    .option('--reason <text>', 'why, for the audit', 'acl sync: pg-cdc.yml tables.tags')
    .option('--json', 'machine-readable output')
    .action((options: ChangeOptions & { json?: boolean }) =>
      withRegistry(program, async ({ config }, registry) => {
        const inventory = await requireLakeInventory(config);
        const healed = syncIntent(registry, config, inventory, changeOf(options, 'acl sync'));
        const report = diffIntent(registry, config, inventory);
        if (options.json) printJson({ ...report, healed, policyVersion: registry.policyVersion() });
        else print(formatDrift(report, healed));
        if (healed.length > 0) process.exitCode = EXIT.driftHealed;
      }),
    );
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

interface BreakGlassTarget {
  readonly principal: string;
  readonly resource: string;
  readonly workflowId: string;
}

async function breakGlassTarget(
  context: CommandContext,
  options: { principal: string; resource: string },
): Promise<BreakGlassTarget> {
  requireRole(compileRoles(context.config.governance), options.principal);
  const resource = parseResource(options.resource);
  locateInLake(await requireLakeInventory(context.config), resource);
  const text = formatResource(resource);
  return { principal: options.principal, resource: text, workflowId: workflowIds.breakGlass(options.principal, text) };
}

/** Poll the registry until `done` holds or `waitMs` passes; the registry is what AccessPolicy.decide reads. */
/**
 * Sends a signal to a grant's workflow through the configured Temporal; `onGone` decides what a workflow that no
 * longer exists means for this command. Returns the task queue, for the message when no worker applies the change.
 */
async function signalGrant(
  context: CommandContext,
  workflowId: string,
  send: (handle: WorkflowHandle) => Promise<void>,
  onGone: () => void,
): Promise<string> {
  const temporal = await resolveTemporal(context.config.temporal, { stateDir: context.stateDir, log: context.log });
  const client = await connectClient(temporal);
  try {
    await send(client.workflow.getHandle(workflowId)).catch((error: unknown) => {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
      onGone();
    });
  } finally {
    await client.connection.close();
  }
  return temporal.taskQueue;
}

async function waitFor(
  registry: Registry,
  waitMs: number,
  done: (registry: Registry) => BreakGlassGrant | undefined,
): Promise<BreakGlassGrant | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const found = done(registry);
    if (found || Date.now() >= deadline) return found;
    await sleep(200);
  }
}

function requireReason(options: ChangeOptions): string {
  const reason = options.reason?.trim();
  if (!reason) {
    throw new GovernanceError('REASON_REQUIRED', '--reason is empty', {
      hint: 'say why, for the audit: --reason "INC-4711: customer asked for an export"',
    });
  }
  return reason;
}

function waitMs(text: string): number {
  try {
    return parseDuration(text);
  } catch (error) {
    throw new GovernanceError('WAIT_INVALID', `--wait ${JSON.stringify(text)} is not a duration`, {
      hint: 'e.g. --wait 30s or --wait 2m',
      cause: error,
    });
  }
}

const ttlMs = (text: string): number => {
  const parsed = parseTtl(text);
  if ('error' in parsed) {
    throw new BreakGlassError('BREAK_GLASS_TTL_INVALID', parsed.error, { hint: 'e.g. --ttl 30m, --ttl 1h' });
  }
  return parsed.ms;
};

const notApplied = (target: BreakGlassTarget, what: string, taskQueue: string): BreakGlassError =>
  new BreakGlassError('BREAK_GLASS_NOT_APPLIED', `${what} did not reach the registry in time`, {
    context: { workflow: target.workflowId, taskQueue },
    hint: `is a worker running? start \`pg-cdc worker\` (task queue ${taskQueue}) with the same pg-cdc.yml`,
  });

type BreakGlassOptions = ChangeOptions & { principal: string; resource: string; wait: string; json?: boolean };

function registerBreakGlass(acl: Command, program: Command): void {
  const breakGlass = acl.command('break-glass').description('time-boxed emergency grants (BreakGlassWorkflow)');
  const targetOptions = (command: Command): Command =>
    command
      .requiredOption('--principal <role>', 'the role that gets access')
      .requiredOption('--resource <resource>', 'db, db.schema.table or db.schema.table.column')
      .option('--actor <name>', 'who, for the audit (default: $USER)')
      .option('--wait <duration>', 'how long to wait for the registry to show the change', '30s')
      .option('--json', 'machine-readable output');

  targetOptions(breakGlass.command('grant'))
    .description('grant a role a resource until the TTL, whatever its tags (audited; revoked on its own)')
    .requiredOption('--ttl <duration>', 'how long, e.g. 30m or 1h (at most 7d)')
    .requiredOption('--reason <text>', 'why, for the audit')
    .action((options: BreakGlassOptions & { ttl: string }) =>
      withRegistry(program, async (context, registry) => {
        const target = await breakGlassTarget(context, options);
        ttlMs(options.ttl);
        const reason = requireReason(options);
        const wait = waitMs(options.wait);
        const temporal = await resolveTemporal(context.config.temporal, {
          stateDir: context.stateDir,
          log: context.log,
        });
        const client = await connectClient(temporal);
        try {
          const handle = await client.workflow
            .start<typeof breakGlassWorkflow>('breakGlassWorkflow', {
              workflowId: target.workflowId,
              taskQueue: temporal.taskQueue,
              args: [{ ...target, ttl: options.ttl, reason, actor: actorOf(options) }],
              workflowIdConflictPolicy: 'FAIL',
            })
            .catch((error: unknown) => {
              if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
              throw new BreakGlassError(
                'BREAK_GLASS_ACTIVE',
                `${target.principal} already has a break-glass grant on ${target.resource}`,
                {
                  context: { workflow: target.workflowId },
                  hint: 'extend it with `pg-cdc acl break-glass extend`, or end it with `pg-cdc acl break-glass revoke`',
                },
              );
            });
          const runId = handle.firstExecutionRunId;
          const grant = await waitFor(registry, wait, (r) => r.grants.get(runId));
          if (!grant) {
            // Nothing may be granted later behind the caller's back: stop the workflow, withdraw a late write.
            await handle.terminate('the grant was not applied in time').catch(() => undefined);
            registry.grants.end(runId, { actor: actorOf(options), reason: 'not applied in time' }, 'revoke');
            throw notApplied(target, 'the grant', temporal.taskQueue);
          }
          if (options.json) return printJson({ ...grant, policyVersion: registry.policyVersion() });
          print(`break-glass: ${grant.principal} may read ${grant.resource} until ${grant.expiresAt}`);
          print(`  workflow ${target.workflowId} (run ${runId})`);
          if (temporal.uiUrl)
            print(`  history: ${temporal.uiUrl}/namespaces/${temporal.namespace}/workflows/${target.workflowId}`);
        } finally {
          await client.connection.close();
        }
      }),
    );

  targetOptions(breakGlass.command('revoke'))
    .description('end a break-glass grant now (audited)')
    .option('--reason <text>', 'why, for the audit', 'revoked')
    .action((options: BreakGlassOptions) =>
      withRegistry(program, async (context, registry) => {
        const target = await breakGlassTarget(context, options);
        const wait = waitMs(options.wait);
        const open = registry.grants.latestFor(target.workflowId);
        if (!open || open.endedAt !== null) {
          throw new BreakGlassError(
            'BREAK_GLASS_NOT_FOUND',
            `${target.principal} has no open grant on ${target.resource}`,
            {
              hint: 'see `pg-cdc acl break-glass list`',
            },
          );
        }
        const change = changeOf(options, 'revoked');
        const taskQueue = await signalGrant(
          context,
          target.workflowId,
          (handle) => handle.signal(revokeSignal, { actor: change.actor, reason: change.reason }),
          // Its workflow is gone (terminated by hand): end the grant here, audited all the same.
          () => registry.grants.end(open.id, change, 'revoke'),
        );
        const ended = await waitFor(registry, wait, (r) => {
          const grant = r.grants.get(open.id);
          return grant?.endedAt == null ? undefined : grant;
        });
        if (!ended) throw notApplied(target, 'the revocation', taskQueue);
        if (options.json) return printJson({ ...ended, policyVersion: registry.policyVersion() });
        print(`break-glass: ${ended.principal} no longer reads ${ended.resource} (ended ${ended.endedAt})`);
      }),
    );

  targetOptions(breakGlass.command('extend'))
    .description('add a TTL to the expiry of an open break-glass grant (audited)')
    .requiredOption('--ttl <duration>', 'time to add, e.g. 30m')
    .requiredOption('--reason <text>', 'why, for the audit')
    .action((options: BreakGlassOptions & { ttl: string }) =>
      withRegistry(program, async (context, registry) => {
        const target = await breakGlassTarget(context, options);
        ttlMs(options.ttl);
        requireReason(options);
        const wait = waitMs(options.wait);
        const open = registry.grants.active(target.principal).find((g) => g.workflowId === target.workflowId);
        if (!open) {
          throw new BreakGlassError(
            'BREAK_GLASS_NOT_FOUND',
            `${target.principal} has no active grant on ${target.resource}`,
            {
              hint: 'grant a new one with `pg-cdc acl break-glass grant`',
            },
          );
        }
        const change = changeOf(options, '');
        const taskQueue = await signalGrant(
          context,
          target.workflowId,
          (handle) => handle.signal(extendSignal, { ttl: options.ttl, actor: change.actor, reason: change.reason }),
          () => {
            throw new BreakGlassError('BREAK_GLASS_NOT_FOUND', 'the workflow of this grant is gone', {
              context: { workflow: target.workflowId },
              hint: 'revoke it with `pg-cdc acl break-glass revoke` and grant a new one',
            });
          },
        );
        const moved = await waitFor(registry, wait, (r) => {
          const grant = r.grants.get(open.id);
          return grant && grant.expiresAt !== open.expiresAt ? grant : undefined;
        });
        if (!moved) throw notApplied(target, 'the extension', taskQueue);
        if (options.json) return printJson({ ...moved, policyVersion: registry.policyVersion() });
        print(`break-glass: ${moved.principal} may read ${moved.resource} until ${moved.expiresAt}`);
      }),
    );

  breakGlass
    .command('list')
    .description('break-glass grants in force (--all: every grant, newest first)')
    .option('--all', 'include ended grants')
    .option('--json', 'machine-readable output')
    .action((options: { all?: boolean; json?: boolean }) =>
      withRegistry(program, (_context, registry) => {
        registry.grants.lapse();
        const grants = options.all ? registry.grants.list() : registry.grants.active();
        if (options.json) printJson(grants);
        else print(formatGrants(grants, new Date()));
      }),
    );
}

export function registerAcl(program: Command): void {
  const acl = program
    .command('acl')
    .description('governance registry: classify lake resources with tags, audit, drift, break-glass grants');
  registerClassification(acl, program);
  registerBreakGlass(acl, program);
}
