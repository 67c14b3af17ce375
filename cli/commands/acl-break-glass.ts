/**
 * `pg-cdc acl break-glass`: time-boxed emergency grants, each a BreakGlassWorkflow. The commands wait on the
 * workflow's Updates (`granted`, `extend`, `revoke`), which return once the registry holds the change: what the
 * command prints is what the next access decision sees.
 */
import {
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import type { Command } from 'commander';
import { parseDuration } from '../../core/config/index.js';
import { isErrorCode, type ErrorCode } from '../../core/errors/catalog.js';
import { searchAttributesOf, workflowIds } from '../../core/temporal/index.js';
import { BreakGlassError, GovernanceError } from '../../governance/errors.js';
import { formatGrants } from '../../governance/format.js';
import type { BreakGlassGrant } from '../../governance/grants.js';
import { locateInLake, requireLakeInventory } from '../../governance/intent.js';
import type { Registry } from '../../governance/registry.js';
import { formatResource, parseResource } from '../../governance/resource.js';
import { compileRoles, requireRole } from '../../governance/roles.js';
import { connectClient, resolveTemporal, type TemporalEndpoint } from '../../workers/connection.js';
import {
  BREAK_GLASS_FAILURES,
  extendUpdate,
  grantedUpdate,
  parseTtl,
  revokeUpdate,
} from '../../workflows/breakglass-messages.js';
import type { breakGlassWorkflow } from '../../workflows/breakglass.js';
import type { CommandContext } from '../context.js';
import { actorOf, changeOf, print, printJson, requireReason, withRegistry, type ChangeOptions } from './acl-common.js';

interface BreakGlassTarget {
  readonly principal: string;
  readonly resource: string;
  readonly workflowId: string;
  /** `schema.table` of a table or column resource: the grant's PgCdcTable search attribute. */
  readonly table?: string;
}

type BreakGlassOptions = ChangeOptions & { principal: string; resource: string; wait: string; json?: boolean };

async function breakGlassTarget(
  context: CommandContext,
  options: { principal: string; resource: string },
): Promise<BreakGlassTarget> {
  requireRole(compileRoles(context.config.governance), options.principal);
  const resource = parseResource(options.resource);
  locateInLake(await requireLakeInventory(context.config), resource);
  const text = formatResource(resource);
  return {
    principal: options.principal,
    resource: text,
    workflowId: workflowIds.breakGlass(options.principal, text),
    ...(resource.kind === 'database' ? {} : { table: `${resource.schema}.${resource.table}` }),
  };
}

/** Run `work` with a client of the configured Temporal, closed after. */
export async function withTemporal<T>(
  context: CommandContext,
  work: (client: Client, temporal: TemporalEndpoint) => Promise<T>,
): Promise<T> {
  const temporal = await resolveTemporal(context.config.temporal, { stateDir: context.stateDir, log: context.log });
  const client = await connectClient(temporal);
  try {
    return await work(client, temporal);
  } finally {
    await client.connection.close();
  }
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

const TTL_HINT = 'e.g. --ttl 30m, --ttl 1h';

const ttlMs = (text: string): number => {
  const parsed = parseTtl(text);
  if ('error' in parsed) throw new BreakGlassError(BREAK_GLASS_FAILURES.ttlInvalid, parsed.error, { hint: TTL_HINT });
  return parsed.ms;
};

/** The workflow's own refusals, as the CLI explains them; any other Update failure is shown as it came. */
const FAILURE_HINTS: Readonly<Partial<Record<ErrorCode, string>>> = {
  [BREAK_GLASS_FAILURES.ttlInvalid]: TTL_HINT,
  [BREAK_GLASS_FAILURES.ended]: 'grant a new one with `pg-cdc acl break-glass grant`',
};

const notApplied = (target: BreakGlassTarget, what: string, taskQueue: string): BreakGlassError =>
  new BreakGlassError('BREAK_GLASS_NOT_APPLIED', `${what} was not applied in time`, {
    context: { workflow: target.workflowId, taskQueue },
    hint: `is a worker running? start \`pg-cdc worker\` (task queue ${taskQueue}) with the same pg-cdc.yml`,
  });

const notFound = (target: BreakGlassTarget, message: string, hint: string): BreakGlassError =>
  new BreakGlassError('BREAK_GLASS_NOT_FOUND', message, { context: { workflow: target.workflowId }, hint });

/**
 * Wait for an Update of the grant's workflow, at most `wait` ms. The workflow refuses bad requests in its validator
 * (a TTL, a grant already ending): those come back as BreakGlassErrors of the workflow's failure type. Returns
 * `'gone'` when the workflow no longer runs.
 */
async function updateGrant(
  client: Client,
  temporal: TemporalEndpoint,
  target: BreakGlassTarget,
  what: string,
  wait: number,
  send: (handle: WorkflowHandle) => Promise<unknown>,
): Promise<'done' | 'gone'> {
  try {
    await client.withDeadline(Date.now() + wait, () => send(client.workflow.getHandle(target.workflowId)));
    return 'done';
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return 'gone';
    if (error instanceof WorkflowUpdateRPCTimeoutOrCancelledError) throw notApplied(target, what, temporal.taskQueue);
    const refusal = error instanceof WorkflowUpdateFailedError ? error.cause : undefined;
    const code = refusal instanceof ApplicationFailure ? refusal.type : undefined;
    if (refusal && code && isErrorCode(code) && Object.hasOwn(FAILURE_HINTS, code)) {
      throw new BreakGlassError(code, refusal.message, {
        context: { workflow: target.workflowId },
        hint: FAILURE_HINTS[code],
        cause: error,
      });
    }
    throw error;
  }
}

async function printGrant(
  registry: Registry,
  grant: BreakGlassGrant,
  json: boolean | undefined,
  line: string,
): Promise<void> {
  if (json) printJson({ ...grant, policyVersion: await registry.policyVersion() });
  else print(line);
}

export function registerBreakGlass(acl: Command, program: Command): void {
  const breakGlass = acl.command('break-glass').description('time-boxed emergency grants (BreakGlassWorkflow)');
  const targetOptions = (command: Command): Command =>
    command
      .requiredOption('--principal <role>', 'the role that gets access')
      .requiredOption('--resource <resource>', 'db, db.schema.table or db.schema.table.column')
      .option('--actor <name>', 'who, for the audit (default: $USER)')
      .option('--wait <duration>', 'how long to wait for a worker to apply the change', '30s')
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
        await withTemporal(context, async (client, temporal) => {
          const handle = await client.workflow
            .start<typeof breakGlassWorkflow>('breakGlassWorkflow', {
              workflowId: target.workflowId,
              taskQueue: temporal.taskQueue,
              args: [
                {
                  principal: target.principal,
                  resource: target.resource,
                  ttl: options.ttl,
                  reason,
                  actor: actorOf(options),
                },
              ],
              workflowIdConflictPolicy: 'FAIL',
              typedSearchAttributes: searchAttributesOf({
                kind: 'breakglass',
                principal: target.principal,
                ...(target.table === undefined ? {} : { table: target.table }),
              }),
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
          try {
            await updateGrant(client, temporal, target, 'the grant', wait, (h) => h.executeUpdate(grantedUpdate));
          } catch (error) {
            if (!(error instanceof BreakGlassError && error.code === 'BREAK_GLASS_NOT_APPLIED')) throw error;
            // Nothing may be granted later behind the caller's back: stop the workflow, withdraw a late write.
            await handle.terminate('the grant was not applied in time').catch((gone: unknown) => {
              if (!(gone instanceof WorkflowNotFoundError)) throw gone;
            });
            await registry.grants.end(runId, { actor: actorOf(options), reason: 'not applied in time' }, 'revoke');
            throw error;
          }
          const grant = await registry.grants.get(runId);
          if (!grant) throw notApplied(target, 'the grant', temporal.taskQueue);
          await printGrant(
            registry,
            grant,
            options.json,
            `break-glass: ${grant.principal} may read ${grant.resource} until ${grant.expiresAt}`,
          );
          if (options.json) return;
          print(`  workflow ${target.workflowId} (run ${runId})`);
          if (temporal.uiUrl)
            print(`  history: ${temporal.uiUrl}/namespaces/${temporal.namespace}/workflows/${target.workflowId}`);
        });
      }),
    );

  targetOptions(breakGlass.command('revoke'))
    .description('end a break-glass grant now (audited)')
    .option('--reason <text>', 'why, for the audit', 'revoked')
    .action((options: BreakGlassOptions) =>
      withRegistry(program, async (context, registry) => {
        const target = await breakGlassTarget(context, options);
        const wait = waitMs(options.wait);
        const open = await registry.grants.latestFor(target.workflowId);
        if (!open || open.endedAt !== null) {
          throw notFound(
            target,
            `${target.principal} has no open grant on ${target.resource}`,
            'see `pg-cdc acl break-glass list`',
          );
        }
        const change = changeOf(options, 'revoked');
        const outcome = await withTemporal(context, (client, temporal) =>
          updateGrant(client, temporal, target, 'the revocation', wait, (handle) =>
            handle.executeUpdate(revokeUpdate, { args: [{ actor: change.actor, reason: change.reason }] }),
          ),
        );
        // Its workflow is gone (terminated by hand): end the grant here, audited all the same.
        if (outcome === 'gone') await registry.grants.end(open.id, change, 'revoke');
        const ended = (await registry.grants.get(open.id))!;
        await printGrant(
          registry,
          ended,
          options.json,
          `break-glass: ${ended.principal} no longer reads ${ended.resource} (ended ${ended.endedAt})`,
        );
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
        const open = (await registry.grants.active(target.principal)).find((g) => g.workflowId === target.workflowId);
        if (!open) {
          throw notFound(
            target,
            `${target.principal} has no active grant on ${target.resource}`,
            'grant a new one with `pg-cdc acl break-glass grant`',
          );
        }
        const change = changeOf(options, '');
        const request = { ttl: options.ttl, actor: change.actor, reason: change.reason };
        const outcome = await withTemporal(context, (client, temporal) =>
          updateGrant(client, temporal, target, 'the extension', wait, (handle) =>
            handle.executeUpdate(extendUpdate, { args: [request] }),
          ),
        );
        if (outcome === 'gone') {
          throw notFound(
            target,
            'the workflow of this grant is gone',
            'revoke it with `pg-cdc acl break-glass revoke` and grant a new one',
          );
        }
        const moved = (await registry.grants.get(open.id))!;
        await printGrant(
          registry,
          moved,
          options.json,
          `break-glass: ${moved.principal} may read ${moved.resource} until ${moved.expiresAt}`,
        );
      }),
    );

  breakGlass
    .command('list')
    .description('break-glass grants in force (--all: every grant, newest first)')
    .option('--all', 'include ended grants')
    .option('--json', 'machine-readable output')
    .action((options: { all?: boolean; json?: boolean }) =>
      withRegistry(program, async (_context, registry) => {
        await registry.grants.lapse();
        const grants = await (options.all ? registry.grants.list() : registry.grants.active());
        if (options.json) printJson(grants);
        else print(formatGrants(grants, new Date()));
      }),
    );
}
