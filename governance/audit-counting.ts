import { auditEvents } from '../core/metrics/index.js';
import type { AuditWrite } from './audit.js';
import type {
  AuditFilter,
  GrantExpectation,
  GrantPatch,
  RegistryBackend,
  StoredGrant,
  StoredResource,
} from './backend.js';

/**
 * The backend the registry writes through, counting each audit entry written (`pgcdc_audit_events_total` by action).
 * Every audited change reaches a backend through one of the writes below, and a write answering false wrote
 * nothing (its rule retries from a fresh read), so what is counted is exactly what the trail holds.
 */
export class AuditCountingBackend implements RegistryBackend {
  constructor(private readonly backend: RegistryBackend) {}

  get location(): string {
    return this.backend.location;
  }

  private counted(written: boolean, audit: AuditWrite): boolean {
    if (written) auditEvents.inc({ action: audit.action });
    return written;
  }

  async insertResource(resource: StoredResource, audit: AuditWrite): Promise<boolean> {
    return this.counted(await this.backend.insertResource(resource, audit), audit);
  }

  async updateResource(resource: StoredResource, expectedVersion: number, audit: AuditWrite): Promise<boolean> {
    return this.counted(await this.backend.updateResource(resource, expectedVersion, audit), audit);
  }

  async appendAudit(audit: AuditWrite): Promise<void> {
    await this.backend.appendAudit(audit);
    this.counted(true, audit);
  }

  async insertGrant(grant: StoredGrant, audit: AuditWrite): Promise<boolean> {
    return this.counted(await this.backend.insertGrant(grant, audit), audit);
  }

  async updateGrant(id: string, expected: GrantExpectation, patch: GrantPatch, audit: AuditWrite): Promise<boolean> {
    return this.counted(await this.backend.updateGrant(id, expected, patch, audit), audit);
  }

  // Reads pass through.
  policyVersion = (): ReturnType<RegistryBackend['policyVersion']> => this.backend.policyVersion();
  latestDatabase = (): ReturnType<RegistryBackend['latestDatabase']> => this.backend.latestDatabase();
  getResource = (text: string): Promise<StoredResource | undefined> => this.backend.getResource(text);
  listResources = (db?: string): Promise<StoredResource[]> => this.backend.listResources(db);
  readAudit = (filter: AuditFilter): ReturnType<RegistryBackend['readAudit']> => this.backend.readAudit(filter);
  getGrant = (id: string): Promise<StoredGrant | undefined> => this.backend.getGrant(id);
  listGrants = (filter: { workflowId?: string; limit?: number }): Promise<StoredGrant[]> =>
    this.backend.listGrants(filter);
  openGrants = (principal?: string): Promise<StoredGrant[]> => this.backend.openGrants(principal);
  close = (): Promise<void> => this.backend.close();
}
