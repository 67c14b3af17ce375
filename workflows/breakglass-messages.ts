/**
 * The messages of BreakGlassWorkflow, shared by the workflow, the CLI and anyone driving it by hand
 * (`temporal workflow update execute --name extend --input '{"ttl":"30m","reason":"..."}'`).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { tryParseDuration } from '../core/config/duration.js';
import type { ErrorCode } from '../core/errors/catalog.js';

export interface BreakGlassInput {
  readonly principal: string;
  /** Canonical resource text: `db`, `db.schema.table` or `db.schema.table.column`. */
  readonly resource: string;
  /** A duration such as `15m` or `1h`. */
  readonly ttl: string;
  readonly reason: string;
  /** Who asked: recorded in the audit. */
  readonly actor: string;
}

export interface RevokeRequest {
  readonly reason?: string;
  readonly actor?: string;
}

export interface ExtendRequest {
  /** Added to the current expiry. */
  readonly ttl: string;
  readonly reason?: string;
  readonly actor?: string;
}

export interface BreakGlassExtension {
  readonly at: string;
  readonly ttl: string;
  readonly by: string;
  readonly reason: string;
  readonly expiresAt: string;
}

export interface BreakGlassState {
  readonly principal: string;
  readonly resource: string;
  /** The registry's grant id: this run's id. */
  readonly grantId: string;
  readonly phase: 'granting' | 'active' | 'ending' | 'ended';
  readonly expiresAt: string;
  readonly grantedBy: string;
  readonly reason: string;
  readonly extensions: readonly BreakGlassExtension[];
  readonly ended?: { readonly how: 'revoked' | 'expired'; readonly by: string; readonly reason: string };
}

export type BreakGlassResult = BreakGlassState & { readonly phase: 'ended' };

/** The longest a grant may run, from now: break-glass is for emergencies, not standing access. */
export const MAX_BREAK_GLASS_TTL_MS = 7 * 24 * 3_600_000;

/** A TTL in milliseconds, or a reason it is not one. */
export function parseTtl(text: unknown): { ms: number } | { error: string } {
  const ms = typeof text === 'string' ? tryParseDuration(text) : undefined;
  if (ms === undefined) {
    return { error: `ttl ${JSON.stringify(text)} is not a duration: write e.g. 30m, 1h or 1h30m` };
  }
  if (ms < 1000) return { error: `ttl ${JSON.stringify(text)} is shorter than one second` };
  if (ms > MAX_BREAK_GLASS_TTL_MS) return { error: `ttl ${JSON.stringify(text)} is longer than the 7-day maximum` };
  return { ms };
}

/** Failure types the Updates reject or fail with; the CLI turns them into BreakGlassErrors of the same code. */
export const BREAK_GLASS_FAILURES = {
  ttlInvalid: 'BREAK_GLASS_TTL_INVALID',
  ended: 'BREAK_GLASS_ENDED',
} as const satisfies Readonly<Record<string, ErrorCode>>;

/** Returns the state once the grant is in the registry (phase `active`), so the caller can rely on it at once. */
export const grantedUpdate = defineUpdate<BreakGlassState>('granted');
/** Ends the grant now; returns its final state once the revocation is in the registry. */
export const revokeUpdate = defineUpdate<BreakGlassState, [RevokeRequest]>('revoke');
/** Adds a TTL to the expiry; a bad TTL is refused by the validator, so it never reaches history. */
export const extendUpdate = defineUpdate<BreakGlassState, [ExtendRequest]>('extend');
export const stateQuery = defineQuery<BreakGlassState>('state');

/**
 * The signals of the same names that drove grants before the Updates. Executions started then may hold them in
 * their history, and anyone may still send one by hand: the workflow keeps handling them (see breakglass.ts).
 */
export const revokeSignal = defineSignal<[RevokeRequest]>('revoke');
export const extendSignal = defineSignal<[ExtendRequest]>('extend');
