/**
 * The registry's storage contract. `Registry` (registry.ts) and `GrantStore` (grants.ts) hold every rule: tag
 * normalisation, versions, idempotency, expiry. A backend only stores, and every write it offers is conditional:
 * it applies the change, appends its audit entry and moves policy_version together, or does nothing and answers
 * false (the resource exists, the version moved, the grant changed meanwhile). The rules retry on false from a
 * fresh read, so two writers never lose a version, whatever the backend: a SQLite file (`backends/sqlite.ts`) or a
 * DynamoDB table (`backends/dynamodb.ts`).
 */
import type { AuditEntry, AuditWrite } from './audit.js';

/** A registered resource as stored: canonical text, own tags, version. */
export interface StoredResource {
  /** Canonical text, `db.schema.table[.column]`. */
  readonly text: string;
  readonly kind: 'database' | 'table' | 'column';
  /** The source database: the first part of `text`. */
  readonly db: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly version: number;
  readonly registeredAt: string;
  readonly updatedAt: string;
}

export interface StoredGrant {
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

/** What a grant must still be for a grant write to apply: open, with this expiry. */
export interface GrantExpectation {
  readonly expiresAt: string;
}

export type GrantPatch =
  { readonly expiresAt: string } | { readonly endedAt: string; readonly endedBy: string; readonly endReason: string };

export interface AuditFilter {
  readonly resource?: string;
  readonly principal?: string;
  /** The newest `limit` entries (default 1000), returned oldest first. */
  readonly limit?: number;
}

export interface RegistryBackend {
  /** Where it is, for messages: a file path or `dynamodb:<table>`. */
  readonly location: string;
  policyVersion(): Promise<number>;
  /** The source database of the most recently registered database resource (of any resource without one). */
  latestDatabase(): Promise<string | undefined>;
  getResource(text: string): Promise<StoredResource | undefined>;
  /** Every resource of a database, or all of them; in no particular order. */
  listResources(db?: string): Promise<StoredResource[]>;
  /** Insert a new resource; false when one of that text exists. */
  insertResource(resource: StoredResource, audit: AuditWrite): Promise<boolean>;
  /** Replace a resource's tags and version; false when its version is no longer `expectedVersion`. */
  updateResource(resource: StoredResource, expectedVersion: number, audit: AuditWrite): Promise<boolean>;
  readAudit(filter: AuditFilter): Promise<AuditEntry[]>;
  /** Record a change made outside the registry (Lake Formation healed): an audit entry and a new policy_version. */
  appendAudit(audit: AuditWrite): Promise<void>;

  getGrant(id: string): Promise<StoredGrant | undefined>;
  /** Every grant (newest first, at most `limit`), or those of one workflow id. */
  listGrants(filter: { workflowId?: string; limit?: number }): Promise<StoredGrant[]>;
  /** Grants not ended, in grant order; the caller filters by expiry. */
  openGrants(principal?: string): Promise<StoredGrant[]>;
  /** Insert a grant; false when one with that id exists. */
  insertGrant(grant: StoredGrant, audit: AuditWrite): Promise<boolean>;
  /** Change an open grant; false when it ended or its expiry is no longer `expected.expiresAt`. */
  updateGrant(id: string, expected: GrantExpectation, patch: GrantPatch, audit: AuditWrite): Promise<boolean>;
  close(): Promise<void>;
}
