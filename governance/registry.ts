/**
 * The governance registry: every resource's own tags with a monotonic version, the audit of every change, the
 * break-glass grants, and `policy_version`, which moves on every classification or grant change so that readers
 * (the query engine) know when to decide again. Local by default: a SQLite file in the state directory.
 */
import { join } from 'node:path';
import type { PgCdcConfig } from '../core/config/index.js';
import { ResourceNotRegisteredError, RegistryUnavailableError } from './errors.js';
import { GrantStore } from './grants.js';
import { formatResource, lineage, parseResource, type Resource } from './resource.js';
import {
  appendAudit,
  openSqlite,
  readAudit,
  readPolicyVersion,
  recordChange,
  type AuditEntry,
  type Change,
  type Sqlite,
} from './store.js';
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

interface ResourceRow {
  resource: string;
  tags: string;
  version: number;
  registered_at: string;
  updated_at: string;
}

const toRecord = (row: ResourceRow): ResourceRecord => ({
  resource: parseResource(row.resource),
  text: row.resource,
  tags: JSON.parse(row.tags) as Tags,
  version: row.version,
  registeredAt: row.registered_at,
  updatedAt: row.updated_at,
});

const columnsOf = (resource: Resource): [string, string | null, string | null, string | null] => [
  resource.db,
  resource.kind === 'database' ? null : resource.schema,
  resource.kind === 'database' ? null : resource.table,
  resource.kind === 'column' ? resource.column : null,
];

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

  constructor(
    private readonly db: Sqlite,
    readonly path: string,
    options: RegistryOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.grants = new GrantStore(db, this.now);
  }

  static open(path: string, options: RegistryOptions = {}): Registry {
    return new Registry(openSqlite(path), path, options);
  }

  /** The registry a configuration names (`governance.registry`); only `local` exists in this version. */
  static forConfig(config: PgCdcConfig, options: RegistryOptions = {}): Registry {
    if (config.governance.registry !== 'local') throw new RegistryUnavailableError('governance.registry: dynamodb');
    return Registry.open(registryPath(config), options);
  }

  policyVersion(): number {
    return readPolicyVersion(this.db);
  }

  /** The source database of the most recently registered database resource (of any resource without one). */
  database(): string | undefined {
    const row = this.db
      .prepare("SELECT db FROM resources ORDER BY kind = 'database' DESC, registered_at DESC LIMIT 1")
      .get() as { db: string } | undefined;
    return row?.db;
  }

  get(resource: Resource): ResourceRecord | undefined {
    const row = this.db.prepare('SELECT * FROM resources WHERE resource = ?').get(formatResource(resource)) as
      ResourceRow | undefined;
    return row && toRecord(row);
  }

  require(resource: Resource): ResourceRecord {
    const record = this.get(resource);
    if (!record) throw new ResourceNotRegisteredError(formatResource(resource));
    return record;
  }

  /** Every registered resource of a database (all of them without `db`), in db → table → column order. */
  list(db?: string): ResourceRecord[] {
    const rows = (
      db === undefined
        ? this.db.prepare('SELECT * FROM resources').all()
        : this.db.prepare('SELECT * FROM resources WHERE db = ?').all(db)
    ) as ResourceRow[];
    const order = (r: ResourceRecord): string => {
      const [d, s, t, c] = columnsOf(r.resource);
      return [d, s ?? '', t ?? '', c ?? ''].join('\u0000');
    };
    return rows.map(toRecord).sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
  }

  /** Own tags of every registered resource of a database, by canonical text: what decisions are made from. */
  ownTags(db: string): Map<string, Tags> {
    const rows = this.db.prepare('SELECT resource, tags FROM resources WHERE db = ?').all(db) as {
      resource: string;
      tags: string;
    }[];
    return new Map(rows.map((row) => [row.resource, JSON.parse(row.tags) as Tags]));
  }

  /** Its own tags over its table's over its database's, registered or not. */
  effectiveTags(resource: Resource): EffectiveTags {
    const tags: Record<string, string> = {};
    const from: Record<string, string> = {};
    for (const level of lineage(resource)) {
      const own = this.get(level)?.tags ?? {};
      for (const [key, value] of Object.entries(own)) {
        tags[key] = value;
        from[key] = formatResource(level);
      }
    }
    return { tags: normalizeTags(tags), from };
  }

  /**
   * Register a resource at version 0 with `tags`; a registered resource is left as it is (registration is
   * idempotent). Audited like every other change.
   */
  register(resource: Resource, tags: Tags, change: Change): { created: boolean; record: ResourceRecord } {
    const text = formatResource(resource);
    const clean = normalizeTags(tags, { resource: text });
    return this.db
      .transaction(() => {
        const existing = this.get(resource);
        if (existing) return { created: false, record: existing };
        const at = this.now().toISOString();
        this.db
          .prepare(
            `INSERT INTO resources (resource, kind, db, schema_name, table_name, column_name, tags, version,
                                    registered_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
          )
          .run(text, resource.kind, ...columnsOf(resource), JSON.stringify(clean), at, at);
        recordChange(
          this.db,
          change,
          { action: 'register', resource: text, before: null, after: { tags: clean }, version: 0 },
          at,
        );
        return { created: true, record: this.require(resource) };
      })
      .immediate();
  }

  /**
   * Audits a promotion of `main` on the database resource: who and why (`change`), from and to (`before`,
   * `after`: the refs and the cut) and the diff. Data moved, not policy: the policy version stays.
   */
  auditPromotion(change: Change, database: string, before: unknown, after: unknown): void {
    const resource = formatResource({ kind: 'database', db: database });
    const record = { action: 'promote' as const, resource, before, after };
    appendAudit(this.db, change, record, this.now().toISOString(), this.policyVersion());
  }

  /**
   * Set and remove own tags of a registered resource. A change bumps its version and policy_version and is
   * audited with the tags before and after; setting what is already there changes nothing.
   */
  setTags(
    resource: Resource,
    edit: { set?: Tags; unset?: readonly string[] },
    change: Change,
    action: 'set' | 'sync' = 'set',
  ): { changed: boolean; record: ResourceRecord } {
    const text = formatResource(resource);
    return this.db
      .transaction(() => {
        const current = this.require(resource);
        const next = editTags(current.tags, normalizeTags(edit.set ?? {}, { resource: text }), edit.unset ?? []);
        if (sameTags(current.tags, next)) return { changed: false, record: current };
        const at = this.now().toISOString();
        const version = current.version + 1;
        this.db
          .prepare('UPDATE resources SET tags = ?, version = ?, updated_at = ? WHERE resource = ?')
          .run(JSON.stringify(next), version, at, text);
        recordChange(
          this.db,
          change,
          { action, resource: text, before: { tags: current.tags }, after: { tags: next }, version },
          at,
        );
        return { changed: true, record: this.require(resource) };
      })
      .immediate();
  }

  audit(filter: { resource?: Resource; principal?: string; limit?: number } = {}): AuditEntry[] {
    return readAudit(this.db, {
      ...(filter.resource ? { resource: formatResource(filter.resource) } : {}),
      ...(filter.principal === undefined ? {} : { principal: filter.principal }),
      ...(filter.limit === undefined ? {} : { limit: filter.limit }),
    });
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
