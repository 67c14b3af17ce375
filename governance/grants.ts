/**
 * Break-glass grants in the registry: a principal may read a resource (database, table or column) until an expiry,
 * whatever its tags say. BreakGlassWorkflow writes them through activities; every change is audited and bumps
 * policy_version. A grant counts only before its expiry, and the first reader after it ends the grant itself, so a
 * grant never outlives its TTL even while no worker runs to revoke it (the workflow's revoke then finds it ended).
 */
import { auditOf, SYSTEM_ACTOR, type AuditWrite, type Change } from './audit.js';
import type { GrantPatch, RegistryBackend, StoredGrant } from './backend.js';
import { retryOnConflict } from './conflict.js';

export type BreakGlassGrant = StoredGrant;

export interface NewGrant {
  readonly id: string;
  readonly workflowId: string;
  readonly principal: string;
  readonly resource: string;
  /** The grant expires this long after it is written. */
  readonly ttlMs: number;
}

export { SYSTEM_ACTOR };

/** Why a reader ended a grant: its TTL passed before its workflow could (no worker was running). */
export const LAPSED_REASON = 'ttl reached before a worker ended it';

type Outcome = { changed: boolean; grant: BreakGlassGrant | undefined };

export class GrantStore {
  constructor(
    private readonly backend: RegistryBackend,
    private readonly now: () => Date,
  ) {}

  get(id: string): Promise<BreakGlassGrant | undefined> {
    return this.backend.getGrant(id);
  }

  /** The most recent grant a workflow id wrote (its latest run's). */
  async latestFor(workflowId: string): Promise<BreakGlassGrant | undefined> {
    return (await this.backend.listGrants({ workflowId, limit: 1 }))[0];
  }

  /** Grants in force now: not ended, not expired. */
  async active(principal?: string): Promise<BreakGlassGrant[]> {
    const at = this.now().toISOString();
    return (await this.backend.openGrants(principal)).filter((grant) => grant.expiresAt > at);
  }

  /** Every grant, newest first. */
  list(limit = 100): Promise<BreakGlassGrant[]> {
    return this.backend.listGrants({ limit });
  }

  /** Write a grant expiring `ttlMs` from now; a retried write of the same grant id finds it and changes nothing. */
  async grant(grant: NewGrant, change: Change): Promise<{ created: boolean; grant: BreakGlassGrant }> {
    const existing = await this.get(grant.id);
    if (existing) return { created: false, grant: existing };
    const now = this.now();
    const at = now.toISOString();
    const expiresAt = new Date(now.getTime() + grant.ttlMs).toISOString();
    const stored: BreakGlassGrant = {
      id: grant.id,
      workflowId: grant.workflowId,
      principal: grant.principal,
      resource: grant.resource,
      reason: change.reason,
      grantedBy: change.actor,
      grantedAt: at,
      expiresAt,
      endedAt: null,
      endedBy: null,
      endReason: null,
    };
    const audit = auditOf(change, at, {
      action: 'grant',
      resource: grant.resource,
      principal: grant.principal,
      before: null,
      after: { grant: grant.id, expiresAt },
    });
    if (await this.backend.insertGrant(stored, audit)) return { created: true, grant: stored };
    return { created: false, grant: (await this.get(grant.id))! };
  }

  /** Move an open grant's expiry. An ended grant stays ended ({ changed: false }). */
  extend(id: string, expiresAt: string, change: Change): Promise<Outcome> {
    return this.change(id, change, (current, at) => {
      if (current.expiresAt === expiresAt) return undefined;
      return {
        patch: { expiresAt },
        audit: auditOf(change, at, {
          action: 'extend',
          resource: current.resource,
          principal: current.principal,
          before: { grant: id, expiresAt: current.expiresAt },
          after: { grant: id, expiresAt },
        }),
      };
    });
  }

  /** End a grant: `revoke` when someone asked, `expire` when its TTL ran out. Ending an ended grant does nothing. */
  end(id: string, change: Change, action: 'revoke' | 'expire'): Promise<Outcome> {
    return this.change(id, change, (current, at) => ({
      patch: { endedAt: at, endedBy: change.actor, endReason: change.reason },
      audit: auditOf(change, at, {
        action,
        resource: current.resource,
        principal: current.principal,
        before: { grant: id, expiresAt: current.expiresAt },
        after: null,
      }),
    }));
  }

  /** End every open grant whose expiry has passed; returns how many. Cheap when there is none (one read). */
  async lapse(): Promise<number> {
    const at = this.now().toISOString();
    const due = (await this.backend.openGrants()).filter((grant) => grant.expiresAt <= at);
    let ended = 0;
    for (const { id } of due) {
      if ((await this.end(id, { actor: SYSTEM_ACTOR, reason: LAPSED_REASON }, 'expire')).changed) ended++;
    }
    return ended;
  }

  /**
   * Apply a change to an open grant, conditional on the expiry it read: a concurrent extension or end makes it
   * read again (and an ended grant stays as it is).
   */
  private change(
    id: string,
    change: Change,
    plan: (current: BreakGlassGrant, at: string) => { patch: GrantPatch; audit: AuditWrite } | undefined,
  ): Promise<Outcome> {
    return retryOnConflict(`break-glass grant ${id}`, async () => {
      const current = await this.get(id);
      if (!current || current.endedAt !== null) return { changed: false, grant: current };
      const at = this.now().toISOString();
      const planned = plan(current, at);
      if (!planned) return { changed: false, grant: current };
      if (!(await this.backend.updateGrant(id, { expiresAt: current.expiresAt }, planned.patch, planned.audit))) {
        return undefined;
      }
      return { changed: true, grant: await this.get(id) };
    });
  }
}
