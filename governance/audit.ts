/** The audit trail's vocabulary, shared by every registry backend: who changed what, when, why, before and after. */

/** `lf-sync`: Lake Formation's LF-tags on a resource were put back to the registry's (`acl sync`, aclSyncWorkflow). */
/** `promote`: `main` moved (lake/state/promotion.ts). */
export type AuditAction =
  'register' | 'set' | 'sync' | 'grant' | 'extend' | 'revoke' | 'expire' | 'lf-sync' | 'promote';

export interface AuditEntry {
  /** Increasing with time within one registry. */
  readonly id: number;
  readonly at: string;
  readonly actor: string;
  readonly action: AuditAction;
  readonly resource: string;
  readonly principal: string | null;
  readonly reason: string;
  readonly before: unknown;
  readonly after: unknown;
  /** The resource's version after the change (classification changes only). */
  readonly version: number | null;
  /** The policy_version this change produced. */
  readonly policyVersion: number;
}

export interface Change {
  /** Who: a person ($USER, --actor) or pg-cdc itself. */
  readonly actor: string;
  /** Why, in the actor's words. */
  readonly reason: string;
}

export interface AuditRecord {
  readonly action: AuditAction;
  readonly resource: string;
  readonly principal?: string;
  readonly before: unknown;
  readonly after: unknown;
  readonly version?: number;
}

/** What a backend writes beside a change: the record, who and why, and when. */
export interface AuditWrite extends AuditRecord, Change {
  readonly at: string;
}

/** pg-cdc itself, as the actor of changes nobody asked for at that moment (a TTL reached, drift healed). */
export const SYSTEM_ACTOR = 'pg-cdc';

/** The audit entry of a change made at `at`. */
export const auditOf = (change: Change, at: string, record: AuditRecord): AuditWrite => ({
  ...record,
  actor: change.actor,
  reason: change.reason,
  at,
});
