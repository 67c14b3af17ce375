/**
 * The errors governance raises on purpose. Each has a stable code (scripts and the query engine match on it) and a
 * hint that says the fix.
 */
import { PgCdcError, type ErrorContext } from '../core/errors/index.js';

export class GovernanceError extends PgCdcError {}

/** The principal names no role of `governance.roles`. */
export class PrincipalUnknownError extends GovernanceError {
  constructor(principal: string, roles: readonly string[]) {
    super('PRINCIPAL_UNKNOWN', `no role named ${JSON.stringify(principal)}`, {
      context: { principal },
      hint:
        roles.length === 0
          ? 'pg-cdc.yml defines no role: add governance.roles, e.g. analyst: { grant: "sensitivity in [public, internal]" }'
          : `the roles in pg-cdc.yml are: ${roles.join(', ')}`,
    });
  }
}

export class ResourceInvalidError extends GovernanceError {
  constructor(text: string, reason: string) {
    super('RESOURCE_INVALID', `${JSON.stringify(text)} is not a resource: ${reason}`, {
      context: { resource: text },
      hint: 'resources are db, db.schema.table or db.schema.table.column (double-quote a name that holds a dot)',
    });
  }
}

export class ResourceNotRegisteredError extends GovernanceError {
  constructor(resource: string) {
    super('RESOURCE_NOT_REGISTERED', `${resource} is not in the governance registry`, {
      context: { resource },
      hint: `register it first: pg-cdc acl register ${resource} (or pg-cdc acl sync to register every lake table)`,
    });
  }
}

/** A resource that names nothing in the lake (a typo, another database, a table not snapshotted yet). */
export class ResourceNotInLakeError extends GovernanceError {
  constructor(resource: string, why: string, hint: string) {
    super('RESOURCE_NOT_IN_LAKE', `${resource}: ${why}`, { context: { resource }, hint });
  }
}

export class TagInvalidError extends GovernanceError {
  constructor(text: string, reason: string, context: ErrorContext = {}) {
    super('TAG_INVALID', `tag ${JSON.stringify(text)} is invalid: ${reason}`, {
      context,
      hint: 'write tags as key=value, e.g. --tag sensitivity=pii; keys and values are non-empty, without control characters',
    });
  }
}

export class LakeEmptyError extends GovernanceError {
  constructor(location: string) {
    super('LAKE_EMPTY', `the lake at ${location} holds no tables yet`, {
      context: { location },
      hint: 'run `pg-cdc init` first: governance classifies the tables that are in the lake',
    });
  }
}

/** A conditional write kept losing to concurrent writers; the registry is unchanged by it. */
export class RegistryConflictError extends GovernanceError {
  constructor(what: string, attempts: number, elapsedMs: number) {
    super('REGISTRY_CONFLICT', `${what} kept changing under ${attempts} attempts to write it in ${elapsedMs} ms`, {
      context: { what, attempts, elapsedMs },
      hint: 'another writer is changing the same entry in a loop: find it (pg-cdc acl get --history), then retry',
    });
  }
}

/** `governance.mode: strict` and a table about to be published has no classification. */
export class UntaggedTablesError extends GovernanceError {
  constructor(tables: readonly string[], hint: string) {
    super(
      'UNTAGGED_TABLES',
      `governance.mode is strict and ${tables.length} table(s) are not tagged: ${tables.join(', ')}`,
      { context: { tables: tables.length }, hint },
    );
  }
}

export class BreakGlassError extends GovernanceError {}
