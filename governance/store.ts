/**
 * The registry's SQLite file: schema, connection settings, and the audit ledger every change goes through. WAL mode
 * and a busy timeout let the CLI, a worker and a server share one file; every write is one IMMEDIATE transaction
 * that changes the data, appends its audit entry and bumps `policy_version` together, or not at all.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { PgCdcError } from '../core/errors/index.js';

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

/** `promote`: `main` moved (lake/state/promotion.ts); the only action that leaves the policy version as it was. */
export type AuditAction = 'register' | 'set' | 'sync' | 'grant' | 'extend' | 'revoke' | 'expire' | 'promote';

export interface AuditEntry {
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

const parseJson = (text: string | null): unknown => (text === null ? null : (JSON.parse(text) as unknown));

export const toAuditEntry = (row: AuditRow): AuditEntry => ({
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

/** Bump policy_version and append the audit entry; call inside the transaction that made the change. */
export function recordChange(db: Sqlite, change: Change, record: AuditRecord, at: string): number {
  db.prepare("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'policy_version'").run();
  const policyVersion = readPolicyVersion(db);
  appendAudit(db, change, record, at, policyVersion);
  return policyVersion;
}

/** Append an audit entry stamped with `policyVersion` (what was in force), without changing the policy. */
export function appendAudit(db: Sqlite, change: Change, record: AuditRecord, at: string, policyVersion: number): void {
  db.prepare(
    `INSERT INTO audit (at, actor, action, resource, principal, reason, before, after, version, policy_version)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    at,
    change.actor,
    record.action,
    record.resource,
    record.principal ?? null,
    change.reason,
    record.before === undefined || record.before === null ? null : JSON.stringify(record.before),
    record.after === undefined || record.after === null ? null : JSON.stringify(record.after),
    record.version ?? null,
    policyVersion,
  );
}

export function readPolicyVersion(db: Sqlite): number {
  const row = db.prepare("SELECT value FROM meta WHERE key = 'policy_version'").get() as { value: string } | undefined;
  return Number(row?.value ?? 0);
}

export function readAudit(
  db: Sqlite,
  filter: { resource?: string; principal?: string; limit?: number } = {},
): AuditEntry[] {
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
  const rows = db.prepare(sql).all(...params, filter.limit ?? 1000) as AuditRow[];
  return rows.map(toAuditEntry);
}
