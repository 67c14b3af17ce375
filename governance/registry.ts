/**
 * The governance registry: every resource's own tags with a monotonic version, the audit of every change, the
 * break-glass grants, and `policy_version`, which moves on every classification or grant change so that readers
 * (the query engine) know when to decide again. The rules live here; storage is a backend (backend.ts): a SQLite
 * file in the state directory (`governance.registry: local`, the default) or a DynamoDB table (`dynamodb`).
 */
import { join } from 'node:path';
import type { PgCdcConfig } from '../core/config/index.js';
import { trackActiveGrants } from '../core/metrics/index.js';
import { auditOf, type AuditEntry, type AuditRecord, type Change } from './audit.js';
import { AuditCountingBackend } from './audit-counting.js';
import type { RegistryBackend, StoredResource } from './backend.js';
import { openDynamoBackend } from './backends/dynamodb.js';
import { SqliteBackend } from './backends/sqlite.js';
import { retryOnConflict } from './conflict.js';
import { ResourceNotRegisteredError } from './errors.js';
import { GrantStore } from './grants.js';
import { formatResource, lineage, parseResource, type Resource } from './resource.js';
import { classified } from './new-columns.js';
import { editTags, normalizeTags, sameTags, type Tags } from './tags.js';

export interface ResourceRecord {
  readonly resource: Resource;
  /** Canonical text, `db.schema.table[.column]`. */
  readonly text: string;
  /** Its own tags (not inherited ones). */
  readonly tags: Tags;
  /** 0 at registration, +1 on every change of its tags. */
  readonly version: number;
  readonly registeredAt: string;
  readonly updatedAt: string;
}

export interface EffectiveTags {
  readonly tags: Tags;
  /** For each key, the resource that gave it (the closest one in db → table → column). */
  readonly from: Readonly<Record<string, string>>;
}

const toRecord = (stored: StoredResource): ResourceRecord => ({
  resource: parseResource(stored.text),
  text: stored.text,
  tags: stored.tags,
  version: stored.version,
  registeredAt: stored.registeredAt,
  updatedAt: stored.updatedAt,
});

/** db → table → column order: a resource before the resources inside it. */
const orderKey = (resource: Resource): string =>
  [
    resource.db,
    resource.kind === 'database' ? '' : resource.schema,
    resource.kind === 'database' ? '' : resource.table,
    resource.kind === 'column' ? resource.column : '',
  ].join('\u0000');

export interface RegistryOptions {
  /** The clock; tests move it. */
  readonly now?: () => Date;
}

/** Where the local registry of a configuration lives. */
export const registryPath = (config: Pick<PgCdcConfig, 'state_dir'>): string =>
  join(config.state_dir, 'governance.sqlite');

export class Registry {
  readonly grants: GrantStore;
  private readonly now: () => Date;
  private readonly backend: RegistryBackend;
  /** Withdraws this registry as the source of the active break-glass grants gauge (core/metrics). */
  private readonly untrackGrants: () => void;

  constructor(backend: RegistryBackend, options: RegistryOptions = {}) {
    this.now = options.now ?? (() => new Date());
    this.backend = new AuditCountingBackend(backend);
    this.grants = new GrantStore(this.backend, this.now);
    this.untrackGrants = trackActiveGrants(async () => (await this.grants.active()).length);
  }

  /** A local registry in a SQLite file. */
  static open(path: string, options: RegistryOptions = {}): Registry {
    return new Registry(SqliteBackend.open(path), options);
  }

  /** The registry a configuration names (`governance.registry`). */
  static forConfig(config: PgCdcConfig, options: RegistryOptions = {}): Registry {
    if (config.governance.registry === 'dynamodb') return new Registry(openDynamoBackend(config), options);
    return Registry.open(registryPath(config), options);
  }

  /** A file path, or `dynamodb:<table>`. */
  get location(): string {
    return this.backend.location;
  }

  policyVersion(): Promise<number> {
    return this.backend.policyVersion();
  }

  /** The source database of the most recently registered database resource (of any resource without one). */
  database(): Promise<string | undefined> {
    return this.backend.latestDatabase();
  }

  async get(resource: Resource): Promise<ResourceRecord | undefined> {
    const stored = await this.backend.getResource(formatResource(resource));
    return stored && toRecord(stored);
  }

  async require(resource: Resource): Promise<ResourceRecord> {
    const record = await this.get(resource);
    if (!record) throw new ResourceNotRegisteredError(formatResource(resource));
    return record;
  }

  /** Every registered resource of a database (all of them without `db`), in db → table → column order. */
  async list(db?: string): Promise<ResourceRecord[]> {
    const records = (await this.backend.listResources(db)).map(toRecord);
    const keyed = records.map((record) => ({ record, key: orderKey(record.resource) }));
    return keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map(({ record }) => record);
  }

  /** Own tags of every registered resource of a database, by canonical text: what decisions are made from. */
  async ownTags(db: string): Promise<Map<string, Tags>> {
    return new Map((await this.backend.listResources(db)).map((stored) => [stored.text, stored.tags]));
  }

  /** Its own tags over its table's over its database's, registered or not. */
  async effectiveTags(resource: Resource): Promise<EffectiveTags> {
    const tags: Record<string, string> = {};
    const from: Record<string, string> = {};
    for (const level of lineage(resource)) {
      const own = (await this.get(level))?.tags ?? {};
      for (const [key, value] of Object.entries(own)) {
        tags[key] = value;
        from[key] = formatResource(level);
      }
    }
    return { tags: normalizeTags(tags), from };
  }

  /**
   * Register a resource at version 0 with `tags`; a registered resource is left as it is (registration is
   * idempotent, and of two concurrent registrations one creates). Audited like every other change.
   */
  async register(
    resource: Resource,
    tags: Tags,
    change: Change,
  ): Promise<{ created: boolean; record: ResourceRecord }> {
    const text = formatResource(resource);
    const clean = normalizeTags(tags, { resource: text });
    const existing = await this.get(resource);
    if (existing) return { created: false, record: existing };
    const at = this.now().toISOString();
    const stored: StoredResource = {
      text,
      kind: resource.kind,
      db: resource.db,
      tags: clean,
      version: 0,
      registeredAt: at,
      updatedAt: at,
    };
    const audit = auditOf(change, at, {
      action: 'register',
      resource: text,
      before: null,
      after: { tags: clean },
      version: 0,
    });
    const created = await this.backend.insertResource(stored, audit);
    return { created, record: created ? toRecord(stored) : await this.require(resource) };
  }

  /**
   * Audits a promotion of `main` on the database resource: who and why (`change`), from and to (`before`,
   * `after`: the refs and the cut) and the diff. Written like every audit entry of a change made outside the
   * registry, so it also moves policy_version (a reader's cached decisions are re-read once).
   */
  auditPromotion(change: Change, database: string, before: unknown, after: unknown): Promise<void> {
    const resource = formatResource({ kind: 'database', db: database });
    return this.recordAudit(change, { action: 'promote', resource, before, after });
  }

  /**
   * Set and remove own tags of a registered resource. A change bumps its version and policy_version and is
   * audited with the tags before and after; setting what is already there changes nothing. The write is
   * conditional on the version it read: a concurrent change makes it read and apply the edit again.
   */
  setTags(
    resource: Resource,
    edit: { set?: Tags; unset?: readonly string[] },
    change: Change,
    action: 'set' | 'sync' = 'set',
  ): Promise<{ changed: boolean; record: ResourceRecord }> {
    const text = formatResource(resource);
    const set = normalizeTags(edit.set ?? {}, { resource: text });
    return retryOnConflict(`tags of ${text}`, async () => {
      const current = await this.require(resource);
      const next = classified(editTags(current.tags, set, edit.unset ?? []), set);
      if (sameTags(current.tags, next)) return { changed: false, record: current };
      const at = this.now().toISOString();
      const version = current.version + 1;
      const stored: StoredResource = {
        text,
        kind: resource.kind,
        db: resource.db,
        tags: next,
        version,
        registeredAt: current.registeredAt,
        updatedAt: at,
      };
      const audit = auditOf(change, at, {
        action,
        resource: text,
        before: { tags: current.tags },
        after: { tags: next },
        version,
      });
      if (!(await this.backend.updateResource(stored, current.version, audit))) return undefined;
      return { changed: true, record: toRecord(stored) };
    });
  }

  audit(filter: { resource?: Resource; principal?: string; limit?: number } = {}): Promise<AuditEntry[]> {
    return this.backend.readAudit({
      ...(filter.resource ? { resource: formatResource(filter.resource) } : {}),
      ...(filter.principal === undefined ? {} : { principal: filter.principal }),
      ...(filter.limit === undefined ? {} : { limit: filter.limit }),
    });
  }

  /** Audit a change made outside the registry (Lake Formation's tags healed); moves policy_version. */
  recordAudit(change: Change, record: AuditRecord): Promise<void> {
    return this.backend.appendAudit(auditOf(change, this.now().toISOString(), record));
  }

  close(): Promise<void> {
    this.untrackGrants();
    return this.backend.close();
  }
}
