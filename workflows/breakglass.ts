import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  log,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { NON_RETRYABLE_CODES } from '../core/errors/catalog.js';
import {
  BREAK_GLASS_FAILURES,
  extendSignal,
  extendUpdate,
  grantedUpdate,
  MAX_BREAK_GLASS_TTL_MS,
  parseTtl,
  revokeSignal,
  revokeUpdate,
  stateQuery,
  type BreakGlassInput,
  type BreakGlassResult,
  type BreakGlassState,
  type ExtendRequest,
  type RevokeRequest,
} from './breakglass-messages.js';

const granting = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1s',
    maximumInterval: '30s',
    maximumAttempts: 10,
    nonRetryableErrorTypes: [...NON_RETRYABLE_CODES],
  },
});

// Ending a grant is retried without a limit until the registry takes it; only a failure no retry can fix (the
// catalog's permanent codes, such as a registry written by a newer pg-cdc) stops it.
const ending = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1s', maximumInterval: '1 minute', nonRetryableErrorTypes: [...NON_RETRYABLE_CODES] },
});

const SYSTEM_ACTOR = 'pg-cdc';
const iso = (ms: number): string => new Date(ms).toISOString();

/** An extension waiting for the main loop; `settle` answers the Update that asked for it (signals have none). */
interface PendingExtension {
  readonly request: ExtendRequest;
  readonly settle?: { resolve: (state: BreakGlassState) => void; reject: (error: unknown) => void };
}

const ttlInvalid = (message: string): ApplicationFailure =>
  ApplicationFailure.create({ type: BREAK_GLASS_FAILURES.ttlInvalid, message, nonRetryable: true });
const grantEnded = (message: string): ApplicationFailure =>
  ApplicationFailure.create({ type: BREAK_GLASS_FAILURES.ended, message, nonRetryable: true });

/**
 * A time-boxed emergency grant, `breakglass:<principal>:<resource>`: grant (audited), a durable timer until the
 * TTL, then revoke (audited). Updates: `revoke` ends it now, `extend` adds a TTL to the expiry; each returns the
 * state it left. The `state` query tells where it is. The timer is Temporal's, so the grant ends on time across
 * restarts of workers and servers.
 */
export async function breakGlassWorkflow(input: BreakGlassInput): Promise<BreakGlassResult> {
  const { workflowId, runId } = workflowInfo();
  const ttl = parseTtl(input.ttl);
  if ('error' in ttl) throw ttlInvalid(ttl.error);
  let expiresAt = Date.now() + ttl.ms;
  let state: BreakGlassState = {
    principal: input.principal,
    resource: input.resource,
    grantId: runId,
    phase: 'granting',
    expiresAt: iso(expiresAt),
    grantedBy: input.actor,
    reason: input.reason,
    extensions: [],
  };
  let revoke: RevokeRequest | undefined;
  const extensions: PendingExtension[] = [];
  // Extensions received so far, and how many had been received when the revocation came: one that was asked for
  // first is applied first, even when both arrive in the same workflow task (two signals sent back to back).
  let extensionsReceived = 0;
  let extensionsApplied = 0;
  let extensionsBeforeRevoke = 0;
  const requestRevoke = (request: RevokeRequest): void => {
    if (revoke !== undefined) return;
    revoke = request;
    extensionsBeforeRevoke = extensionsReceived;
  };
  const queueExtension = (pending: PendingExtension): void => {
    extensions.push(pending);
    extensionsReceived += 1;
  };
  setHandler(stateQuery, () => state);

  // The signals stay, without a patched() branch: executions started while grants were signalled replay their
  // signals through these handlers, which feed the same loop as the Updates, so their commands come out as before.
  // The Updates add no command of their own (only the loop schedules activities), so no marker is needed either.
  setHandler(revokeSignal, (request) => requestRevoke(request ?? {}));
  setHandler(extendSignal, (request) => {
    const parsed = parseTtl(request?.ttl);
    if ('error' in parsed) log.warn('extend ignored', { reason: parsed.error });
    else queueExtension({ request });
  });

  setHandler(grantedUpdate, async () => {
    await condition(() => state.phase !== 'granting');
    return state;
  });
  setHandler(revokeUpdate, async (request) => {
    requestRevoke(request ?? {});
    await condition(() => state.phase === 'ended');
    return state;
  });
  setHandler(
    extendUpdate,
    (request) =>
      new Promise<BreakGlassState>((resolve, reject) => queueExtension({ request, settle: { resolve, reject } })),
    {
      // Refused here, a bad request leaves no trace in the history; the caller gets the reason.
      validator: (request: ExtendRequest | undefined) => {
        const parsed = parseTtl(request?.ttl);
        if ('error' in parsed) throw ttlInvalid(parsed.error);
        if (revoke !== undefined || state.phase === 'ending' || state.phase === 'ended') {
          throw grantEnded(`the grant is ${state.phase === 'ended' ? 'over' : 'ending'}: it cannot be extended`);
        }
      },
    },
  );

  const granted = await granting.grantBreakGlass({
    grantId: runId,
    workflowId,
    principal: input.principal,
    resource: input.resource,
    ttlMs: ttl.ms,
    actor: input.actor,
    reason: input.reason,
  });
  // The TTL counts from the write, when access begins; the activity's result is in the history, so replay agrees.
  expiresAt = Date.parse(granted.expiresAt);
  state = { ...state, phase: 'active', expiresAt: granted.expiresAt };

  let endedElsewhere = false;
  // Executions that ran before this change dropped an extension signalled together with the revocation; they
  // replay as they ran.
  const inOrder = patched('extensions-before-revoke');
  const extensionDue = (): boolean =>
    extensions.length > 0 && (revoke === undefined || (inOrder && extensionsApplied < extensionsBeforeRevoke));
  while ((revoke === undefined || extensionDue()) && !endedElsewhere && expiresAt > Date.now()) {
    await condition(() => revoke !== undefined || extensions.length > 0, expiresAt - Date.now());
    while (extensionDue()) {
      const { request, settle } = extensions.shift()!;
      const added = (parseTtl(request.ttl) as { ms: number }).ms;
      const next = Math.min(expiresAt + added, Date.now() + MAX_BREAK_GLASS_TTL_MS);
      const by = request.actor ?? 'unknown';
      const reason = request.reason ?? 'extended';
      const result = await granting.extendBreakGlass({ grantId: runId, expiresAt: iso(next), actor: by, reason });
      if (!result.extended) {
        // The grant lapsed in the registry (no worker ran at its expiry): it is over, an extension cannot revive it.
        endedElsewhere = true;
        settle?.reject(grantEnded('the grant lapsed in the registry before the extension reached it'));
        break;
      }
      expiresAt = next;
      extensionsApplied += 1;
      const extension = { at: iso(Date.now()), ttl: request.ttl, by, reason, expiresAt: iso(next) };
      state = { ...state, expiresAt: iso(next), extensions: [...state.extensions, extension] };
      settle?.resolve(state);
    }
  }
  // Extensions still queued came too late (revoked, expired or lapsed meanwhile): their callers hear so.
  for (const { settle } of extensions.splice(0)) settle?.reject(grantEnded('the grant ended before the extension'));

  state = { ...state, phase: 'ending' };
  const ended = revoke
    ? { how: 'revoked' as const, by: revoke.actor ?? 'unknown', reason: revoke.reason ?? 'revoked' }
    : { how: 'expired' as const, by: SYSTEM_ACTOR, reason: 'ttl reached' };
  await ending.endBreakGlass({ grantId: runId, how: ended.how, actor: ended.by, reason: ended.reason });
  const result: BreakGlassResult = { ...state, phase: 'ended', ended };
  state = result;
  // A revoke Update returns this final state: let it finish before the run closes.
  await condition(allHandlersFinished);
  return result;
}
