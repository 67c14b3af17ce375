/**
 * Break-glass grants in the registry: a principal may read a resource (database, table or column) until an expiry,
 * whatever its tags say. BreakGlassWorkflow writes them through activities; every change is audited and bumps
 * policy_version. A grant counts only before its expiry, and the first reader after it ends the grant itself, so a
 * grant never outlives its TTL even while no worker runs to revoke it (the workflow's revoke then finds it ended).
 */
import type { Change, Sqlite } from './store.js';
import { recordChange } from './store.js';

export interface BreakGlassGrant {
  /** The workflow run that owns the grant. */
  readonly id: string;
  /** `breakglass:<principal>:<resource>`. */
  readonly workflowId: string;
  readonly principal: string;
  /** Canonical resource text. */
  readonly resource: string;
  readonly reason: string;
  readonly grantedBy: string;
  readonly grantedAt: string;
  readonly expiresAt: string;
  readonly endedAt: string | null;
  readonly endedBy: string | null;
  readonly endReason: string | null;
}

export interface NewGrant {
  readonly id: string;
  readonly workflowId: string;
  readonly principal: string;
  readonly resource: string;
  /** The grant expires this long after it is written. */
  readonly ttlMs: number;
}

interface GrantRow {
  id: string;
  workflow_id: string;
  principal: string;
  resource: string;
  reason: string;
  granted_by: string;
  granted_at: string;
  expires_at: string;
  ended_at: string | null;
  ended_by: string | null;
  end_reason: string | null;
}

const toGrant = (row: GrantRow): BreakGlassGrant => ({
  id: row.id,
  workflowId: row.workflow_id,
  principal: row.principal,
  resource: row.resource,
  reason: row.reason,
  grantedBy: row.granted_by,
  grantedAt: row.granted_at,
  expiresAt: row.expires_at,
  endedAt: row.ended_at,
  endedBy: row.ended_by,
  endReason: row.end_reason,
});

/** pg-cdc itself, as the actor of changes nobody asked for at that moment (a TTL reached). */
export const SYSTEM_ACTOR = 'pg-cdc';

/** Why a reader ended a grant: its TTL passed before its workflow could (no worker was running). */
export const LAPSED_REASON = 'ttl reached before a worker ended it';

export class GrantStore {
  constructor(
    private readonly db: Sqlite,
    private readonly now: () => Date,
  ) {}

  get(id: string): BreakGlassGrant | undefined {
    const row = this.db.prepare('SELECT * FROM grants WHERE id = ?').get(id) as GrantRow | undefined;
    return row && toGrant(row);
  }

  /** The most recent grant a workflow id wrote (its latest run's). */
  latestFor(workflowId: string): BreakGlassGrant | undefined {
    const row = this.db
      .prepare('SELECT * FROM grants WHERE workflow_id = ? ORDER BY granted_at DESC, rowid DESC LIMIT 1')
      .get(workflowId) as GrantRow | undefined;
    return row && toGrant(row);
  }

  /** Grants in force now: not ended, not expired. */
  active(principal?: string): BreakGlassGrant[] {
    const at = this.now().toISOString();
    const rows = (
      principal === undefined
        ? this.db.prepare('SELECT * FROM grants WHERE ended_at IS NULL AND expires_at > ? ORDER BY granted_at').all(at)
        : this.db
            .prepare(
              'SELECT * FROM grants WHERE ended_at IS NULL AND expires_at > ? AND principal = ? ORDER BY granted_at',
            )
            .all(at, principal)
    ) as GrantRow[];
    return rows.map(toGrant);
  }

  /** Every grant, newest first. */
  list(limit = 100): BreakGlassGrant[] {
    const rows = this.db
      .prepare('SELECT * FROM grants ORDER BY granted_at DESC, rowid DESC LIMIT ?')
      .all(limit) as GrantRow[];
    return rows.map(toGrant);
  }

  /** Write a grant expiring `ttlMs` from now; a retried write of the same grant id finds it and changes nothing. */
  grant(grant: NewGrant, change: Change): { created: boolean; grant: BreakGlassGrant } {
    return this.db
      .transaction(() => {
        const existing = this.get(grant.id);
        if (existing) return { created: false, grant: existing };
        const now = this.now();
        const at = now.toISOString();
        const expiresAt = new Date(now.getTime() + grant.ttlMs).toISOString();
        this.db
          .prepare(
            `INSERT INTO grants (id, workflow_id, principal, resource, reason, granted_by, granted_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(grant.id, grant.workflowId, grant.principal, grant.resource, change.reason, change.actor, at, expiresAt);
        recordChange(
          this.db,
          change,
          {
            action: 'grant',
            resource: grant.resource,
            principal: grant.principal,
            before: null,
            after: { grant: grant.id, expiresAt },
          },
          at,
        );
        return { created: true, grant: this.get(grant.id)! };
      })
      .immediate();
  }

  /** Move an open grant's expiry. An ended grant stays ended ({ changed: false }). */
  extend(id: string, expiresAt: string, change: Change): { changed: boolean; grant: BreakGlassGrant | undefined } {
    return this.db
      .transaction(() => {
        const current = this.get(id);
        if (!current || current.endedAt !== null || current.expiresAt === expiresAt) {
          return { changed: false, grant: current };
        }
        const at = this.now().toISOString();
        this.db.prepare('UPDATE grants SET expires_at = ? WHERE id = ?').run(expiresAt, id);
        recordChange(
          this.db,
          change,
          {
            action: 'extend',
            resource: current.resource,
            principal: current.principal,
            before: { grant: id, expiresAt: current.expiresAt },
            after: { grant: id, expiresAt },
          },
          at,
        );
        return { changed: true, grant: this.get(id) };
      })
      .immediate();
  }

  /** End a grant: `revoke` when someone asked, `expire` when its TTL ran out. Ending an ended grant does nothing. */
  end(
    id: string,
    change: Change,
    action: 'revoke' | 'expire',
  ): { changed: boolean; grant: BreakGlassGrant | undefined } {
    return this.db
      .transaction(() => {
        const current = this.get(id);
        if (!current || current.endedAt !== null) return { changed: false, grant: current };
        const at = this.now().toISOString();
        this.db
          .prepare('UPDATE grants SET ended_at = ?, ended_by = ?, end_reason = ? WHERE id = ?')
          .run(at, change.actor, change.reason, id);
        recordChange(
          this.db,
          change,
          {
            action,
            resource: current.resource,
            principal: current.principal,
            before: { grant: id, expiresAt: current.expiresAt },
            after: null,
          },
          at,
        );
        return { changed: true, grant: this.get(id) };
      })
      .immediate();
  }

  /** End every open grant whose expiry has passed; returns how many. Cheap when there is none (one indexed read). */
  lapse(): number {
    const at = this.now().toISOString();
    const due = this.db.prepare('SELECT id FROM grants WHERE ended_at IS NULL AND expires_at <= ?').all(at) as {
      id: string;
    }[];
    let ended = 0;
    for (const { id } of due) {
      if (this.end(id, { actor: SYSTEM_ACTOR, reason: LAPSED_REASON }, 'expire').changed) ended++;
    }
    return ended;
  }
}
