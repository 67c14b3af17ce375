/**
 * The local registry backend (`governance.registry: local`): a SQLite file in state_dir. WAL mode and a busy
 * timeout let the CLI, a worker and a server share one file; every write is one IMMEDIATE transaction that checks
 * its condition, changes the data, appends its audit entry and bumps `policy_version` together, or not at all.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { PgCdcError } from '../../core/errors/index.js';
import type { AuditAction, AuditEntry, AuditWrite } from '../audit.js';
import type {
  AuditFilter,
  GrantExpectation,
  GrantPatch,
  RegistryBackend,
  StoredGrant,
  StoredResource,
} from '../backend.js';
import { parseResource } from '../resource.js';

export type Sqlite = Database.Database;

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('policy_version', '0');

CREATE TABLE IF NOT EXISTS resources (
  resource      TEXT PRIMARY KEY,
  kind          TEXT NOT NULL CHECK (kind IN ('database', 'table', 'column')),
  db            TEXT NOT NULL,
  schema_name   TEXT,
  table_name    TEXT,
  column_name   TEXT,
  tags          TEXT NOT NULL,
  version       INTEGER NOT NULL,
  registered_at TEXT NOT NULL,
  updated_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_by_table ON resources (db, schema_name, table_name);

CREATE TABLE IF NOT EXISTS audit (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  at             TEXT NOT NULL,
  actor          TEXT NOT NULL,
  action         TEXT NOT NULL,
  resource       TEXT NOT NULL,
  principal      TEXT,
  reason         TEXT NOT NULL,
  before         TEXT,
  after          TEXT,
  version        INTEGER,
  policy_version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_resource ON audit (resource, id);

CREATE TABLE IF NOT EXISTS grants (
  id            TEXT PRIMARY KEY,
  workflow_id   TEXT NOT NULL,
  principal     TEXT NOT NULL,
  resource      TEXT NOT NULL,
  reason        TEXT NOT NULL,
  granted_by    TEXT NOT NULL,
  granted_at    TEXT NOT NULL,
  expires_at    TEXT NOT NULL,
  ended_at      TEXT,
  ended_by      TEXT,
  end_reason    TEXT
);
CREATE INDEX IF NOT EXISTS grants_open ON grants (ended_at, expires_at);
CREATE INDEX IF NOT EXISTS grants_by_workflow ON grants (workflow_id, granted_at);
`;

export function openSqlite(path: string): Sqlite {
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 10000');
    db.pragma('foreign_keys = ON');
    const version = Number(db.pragma('user_version', { simple: true }));
    if (version > SCHEMA_VERSION) {
      db.close();
      throw new PgCdcError('REGISTRY_TOO_NEW', `the governance registry ${path} was written by a newer pg-cdc`, {
        context: { path, schemaVersion: version },
        hint: 'upgrade pg-cdc on this machine to the version that wrote it',
      });
    }
    db.exec(SCHEMA);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
    return db;
  } catch (error) {
    if (error instanceof PgCdcError) throw error;
    throw new PgCdcError('REGISTRY_UNAVAILABLE', `cannot open the governance registry ${path}`, {
      context: { path },
      hint: 'check that state_dir is writable by this user and not on a network filesystem without locking',
      cause: error,
    });
  }
}

interface AuditRow {
  id: number;
  at: string;
  actor: string;
  action: AuditAction;
  resource: string;
  principal: string | null;
  reason: string;
  before: string | null;
  after: string | null;
  version: number | null;
  policy_version: number;
}

interface ResourceRow {
  resource: string;
  kind: StoredResource['kind'];
  db: string;
  tags: string;
  version: number;
  registered_at: string;
  updated_at: string;
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

const parseJson = (text: string | null): unknown => (text === null ? null : (JSON.parse(text) as unknown));
const jsonOrNull = (value: unknown): string | null =>
  value === undefined || value === null ? null : JSON.stringify(value);

const toAuditEntry = (row: AuditRow): AuditEntry => ({
  id: row.id,
  at: row.at,
  actor: row.actor,
  action: row.action,
  resource: row.resource,
  principal: row.principal,
  reason: row.reason,
  before: parseJson(row.before),
  after: parseJson(row.after),
  version: row.version,
  policyVersion: row.policy_version,
});

const toResource = (row: ResourceRow): StoredResource => ({
  text: row.resource,
  kind: row.kind,
  db: row.db,
  tags: JSON.parse(row.tags) as Record<string, string>,
  version: row.version,
  registeredAt: row.registered_at,
  updatedAt: row.updated_at,
});

const toGrant = (row: GrantRow): StoredGrant => ({
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

/** The schema, table and column of a resource: columns of the file for its readers (the registry keys on text). */
function nameColumns(text: string): [string | null, string | null, string | null] {
  const resource = parseResource(text);
  if (resource.kind === 'database') return [null, null, null];
  return [resource.schema, resource.table, resource.kind === 'column' ? resource.column : null];
}

export class SqliteBackend implements RegistryBackend {
  private constructor(
    private readonly db: Sqlite,
    readonly location: string,
  ) {}

  static open(path: string): SqliteBackend {
    return new SqliteBackend(openSqlite(path), path);
  }

  policyVersion(): Promise<number> {
    return Promise.resolve(this.readPolicyVersion());
  }

  latestDatabase(): Promise<string | undefined> {
    const row = this.db
      .prepare("SELECT db FROM resources ORDER BY kind = 'database' DESC, registered_at DESC LIMIT 1")
      .get() as { db: string } | undefined;
    return Promise.resolve(row?.db);
  }

  getResource(text: string): Promise<StoredResource | undefined> {
    const row = this.db.prepare('SELECT * FROM resources WHERE resource = ?').get(text) as ResourceRow | undefined;
    return Promise.resolve(row && toResource(row));
  }

  listResources(db?: string): Promise<StoredResource[]> {
    const rows = (
      db === undefined
        ? this.db.prepare('SELECT * FROM resources').all()
        : this.db.prepare('SELECT * FROM resources WHERE db = ?').all(db)
    ) as ResourceRow[];
    return Promise.resolve(rows.map(toResource));
  }

  insertResource(resource: StoredResource, audit: AuditWrite): Promise<boolean> {
    return this.write(() => {
      const inserted = this.db
        .prepare(
          `INSERT OR IGNORE INTO resources (resource, kind, db, schema_name, table_name, column_name, tags, version,
                                            registered_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          resource.text,
          resource.kind,
          resource.db,
          ...nameColumns(resource.text),
          JSON.stringify(resource.tags),
          resource.version,
          resource.registeredAt,
          resource.updatedAt,
        );
      return inserted.changes === 1 && this.recordChange(audit);
    });
  }

  updateResource(resource: StoredResource, expectedVersion: number, audit: AuditWrite): Promise<boolean> {
    return this.write(() => {
      const updated = this.db
        .prepare('UPDATE resources SET tags = ?, version = ?, updated_at = ? WHERE resource = ? AND version = ?')
        .run(JSON.stringify(resource.tags), resource.version, resource.updatedAt, resource.text, expectedVersion);
      return updated.changes === 1 && this.recordChange(audit);
    });
  }

  readAudit(filter: AuditFilter): Promise<AuditEntry[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.resource !== undefined) {
      where.push('resource = ?');
      params.push(filter.resource);
    }
    if (filter.principal !== undefined) {
      where.push('principal = ?');
      params.push(filter.principal);
    }
    const sql =
      `SELECT * FROM (SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ` +
      `ORDER BY id DESC LIMIT ?) ORDER BY id`;
    const rows = this.db.prepare(sql).all(...params, filter.limit ?? 1000) as AuditRow[];
    return Promise.resolve(rows.map(toAuditEntry));
  }

  async appendAudit(audit: AuditWrite): Promise<void> {
    await this.write(() => this.recordChange(audit));
  }

  getGrant(id: string): Promise<StoredGrant | undefined> {
    const row = this.db.prepare('SELECT * FROM grants WHERE id = ?').get(id) as GrantRow | undefined;
    return Promise.resolve(row && toGrant(row));
  }

  listGrants(filter: { workflowId?: string; limit?: number }): Promise<StoredGrant[]> {
    const rows = (
      filter.workflowId === undefined
        ? this.db.prepare('SELECT * FROM grants ORDER BY granted_at DESC, rowid DESC LIMIT ?').all(filter.limit ?? 100)
        : this.db
            .prepare('SELECT * FROM grants WHERE workflow_id = ? ORDER BY granted_at DESC, rowid DESC LIMIT ?')
            .all(filter.workflowId, filter.limit ?? 100)
    ) as GrantRow[];
    return Promise.resolve(rows.map(toGrant));
  }

  openGrants(principal?: string): Promise<StoredGrant[]> {
    const rows = (
      principal === undefined
        ? this.db.prepare('SELECT * FROM grants WHERE ended_at IS NULL ORDER BY granted_at, rowid').all()
        : this.db
            .prepare('SELECT * FROM grants WHERE ended_at IS NULL AND principal = ? ORDER BY granted_at, rowid')
            .all(principal)
    ) as GrantRow[];
    return Promise.resolve(rows.map(toGrant));
  }

  insertGrant(grant: StoredGrant, audit: AuditWrite): Promise<boolean> {
    return this.write(() => {
      const inserted = this.db
        .prepare(
          `INSERT OR IGNORE INTO grants (id, workflow_id, principal, resource, reason, granted_by, granted_at,
                                         expires_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          grant.id,
          grant.workflowId,
          grant.principal,
          grant.resource,
          grant.reason,
          grant.grantedBy,
          grant.grantedAt,
          grant.expiresAt,
        );
      return inserted.changes === 1 && this.recordChange(audit);
    });
  }

  updateGrant(id: string, expected: GrantExpectation, patch: GrantPatch, audit: AuditWrite): Promise<boolean> {
    return this.write(() => {
      const updated =
        'endedAt' in patch
          ? this.db
              .prepare(
                `UPDATE grants SET ended_at = ?, ended_by = ?, end_reason = ?
                 WHERE id = ? AND ended_at IS NULL AND expires_at = ?`,
              )
              .run(patch.endedAt, patch.endedBy, patch.endReason, id, expected.expiresAt)
          : this.db
              .prepare('UPDATE grants SET expires_at = ? WHERE id = ? AND ended_at IS NULL AND expires_at = ?')
              .run(patch.expiresAt, id, expected.expiresAt);
      return updated.changes === 1 && this.recordChange(audit);
    });
  }

  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }

  /** One IMMEDIATE transaction: a write that applies nothing (its condition failed) leaves no trace. */
  private write(body: () => boolean): Promise<boolean> {
    return new Promise((resolve) => resolve(this.db.transaction(body).immediate()));
  }

  /** Bump policy_version and append the audit entry; inside the transaction that made the change. */
  private recordChange(audit: AuditWrite): true {
    this.db.prepare("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'policy_version'").run();
    this.db
      .prepare(
        `INSERT INTO audit (at, actor, action, resource, principal, reason, before, after, version, policy_version)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        audit.at,
        audit.actor,
        audit.action,
        audit.resource,
        audit.principal ?? null,
        audit.reason,
        jsonOrNull(audit.before),
        jsonOrNull(audit.after),
        audit.version ?? null,
        this.readPolicyVersion(),
      );
    return true;
  }

  private readPolicyVersion(): number {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'policy_version'").get() as
      { value: string } | undefined;
    return Number(row?.value ?? 0);
  }
}
