import { ApplicationFailure, condition, log, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { NON_RETRYABLE_CODES } from '../core/errors/catalog.js';
import {
  extendSignal,
  MAX_BREAK_GLASS_TTL_MS,
  parseTtl,
  revokeSignal,
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

/**
 * A time-boxed emergency grant, `breakglass:<principal>:<resource>`: grant (audited), a durable timer until the
 * TTL, then revoke (audited). Signals: `revoke` ends it now, `extend` adds a TTL to the expiry; the `state` query
 * tells where it is. The timer is Temporal's, so the grant ends on time across restarts of workers and servers.
 */
export async function breakGlassWorkflow(input: BreakGlassInput): Promise<BreakGlassResult> {
  const { workflowId, runId } = workflowInfo();
  const ttl = parseTtl(input.ttl);
  if ('error' in ttl) {
    throw ApplicationFailure.create({ type: 'BREAK_GLASS_TTL_INVALID', message: ttl.error, nonRetryable: true });
  }
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
  const extensions: ExtendRequest[] = [];
  setHandler(stateQuery, () => state);
  setHandler(revokeSignal, (request) => void (revoke ??= request ?? {}));
  setHandler(extendSignal, (request) => {
    const parsed = parseTtl(request?.ttl);
    if ('error' in parsed) log.warn('extend ignored', { reason: parsed.error });
    else extensions.push(request);
  });

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
  while (revoke === undefined && !endedElsewhere && expiresAt > Date.now()) {
    await condition(() => revoke !== undefined || extensions.length > 0, expiresAt - Date.now());
    while (revoke === undefined && extensions.length > 0) {
      const request = extensions.shift()!;
      const added = (parseTtl(request.ttl) as { ms: number }).ms;
      const next = Math.min(expiresAt + added, Date.now() + MAX_BREAK_GLASS_TTL_MS);
      const by = request.actor ?? 'unknown';
      const reason = request.reason ?? 'extended';
      const result = await granting.extendBreakGlass({ grantId: runId, expiresAt: iso(next), actor: by, reason });
      if (!result.extended) {
        // The grant lapsed in the registry (no worker ran at its expiry): it is over, an extension cannot revive it.
        endedElsewhere = true;
        break;
      }
      expiresAt = next;
      const extension = { at: iso(Date.now()), ttl: request.ttl, by, reason, expiresAt: iso(next) };
      state = { ...state, expiresAt: iso(next), extensions: [...state.extensions, extension] };
    }
  }

  state = { ...state, phase: 'ending' };
  const ended = revoke
    ? { how: 'revoked' as const, by: revoke.actor ?? 'unknown', reason: revoke.reason ?? 'revoked' }
    : { how: 'expired' as const, by: SYSTEM_ACTOR, reason: 'ttl reached' };
  await ending.endBreakGlass({ grantId: runId, how: ended.how, actor: ended.by, reason: ended.reason });
  const result: BreakGlassResult = { ...state, phase: 'ended', ended };
  state = result;
  return result;
}
