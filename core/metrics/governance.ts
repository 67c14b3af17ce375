import { Counter, Gauge } from 'prom-client';
import { metricsCollectErrors } from './families.js';
import { processRegistry } from './registry.js';

/**
 * Governance: the audit trail, ACL drift and break-glass grants. Defined once here; governance/ records them where
 * each fact is decided. Labels never carry a principal or a resource.
 */
const registers = [processRegistry];

export const auditEvents = new Counter({
  name: 'pgcdc_audit_events_total',
  help: 'Audit entries written to the governance registry, by action (register, set, sync, grant, revoke, ...).',
  labelNames: ['action'],
  registers,
});

export const aclDriftHealed = new Counter({
  name: 'pgcdc_acl_drift_healed_total',
  help: 'ACL differences healed, by target: registry (against pg-cdc.yml) or lakeformation (against the registry).',
  labelNames: ['target'],
  registers,
});
export const aclDrift = new Gauge({
  name: 'pgcdc_acl_drift',
  help: 'ACL differences the last diff or sync of this process left, by target (registry, lakeformation).',
  labelNames: ['target'],
  registers,
});

/** Counts the grants in force now; open registries register one (see trackActiveGrants). */
type ActiveGrantsReader = () => Promise<number>;
const grantReaders: ActiveGrantsReader[] = [];

/**
 * Makes `read` the source of the active break-glass grants gauge while this registry is open; the newest open one
 * answers. Returns the function that withdraws it (on close).
 */
export function trackActiveGrants(read: ActiveGrantsReader): () => void {
  grantReaders.push(read);
  return () => {
    const at = grantReaders.indexOf(read);
    if (at >= 0) grantReaders.splice(at, 1);
  };
}

const ACTIVE_GRANTS = 'pgcdc_breakglass_grants_active';
new Gauge({
  name: ACTIVE_GRANTS,
  help: 'Break-glass grants in force now (not ended, not expired), read from the open registry at scrape time.',
  registers,
  async collect() {
    const read = grantReaders.at(-1);
    if (!read) {
      this.reset();
      return;
    }
    try {
      this.set(await read());
    } catch {
      // A scrape must not fail because the registry did not answer: the gauge keeps its last reading, the miss counts.
      metricsCollectErrors.inc({ family: ACTIVE_GRANTS });
    }
  },
});
