import { PgCdcError, type PgCdcErrorOptions } from '../core/errors/index.js';

/**
 * Errors of the lake writer. Codes are stable: callers (the table actor, the CLI) match on them, e.g. a
 * COMMIT_CONFLICT is retried by re-reading, a STORAGE_KEY_INVALID never is.
 */

/** Someone else committed first: the version (or metadata pointer) we built on is no longer current. */
export class CommitConflictError extends PgCdcError {
  constructor(
    message: string,
    context: {
      table?: string;
      document?: string;
      expected: string | number | undefined;
      actual: string | number | undefined;
    },
    options: Omit<PgCdcErrorOptions, 'context'> = {},
  ) {
    super('COMMIT_CONFLICT', message, {
      hint: 're-read the current state and commit again; a single writer per table never sees this',
      ...options,
      context,
    });
  }
}

/**
 * A version of a versioned document (pg-cdc's manifest, the local catalog) below its floor: compaction pruned it.
 * Names the oldest version that can still be read.
 */
export class VersionPrunedError extends PgCdcError {
  constructor(document: string, version: number, oldest: number) {
    super('VERSION_PRUNED', `version ${version} of ${document} was pruned; the oldest kept is ${oldest}`, {
      hint:
        `read v${oldest} or a later version: compaction keeps the newest compaction.retain_versions versions, ` +
        'those younger than compaction.orphan_grace and, of the manifest, those whose table snapshots are retained',
      context: { document, version, oldest },
    });
  }
}

/** A storage key that could escape the warehouse root or is not a plain relative path. */
export class InvalidKeyError extends PgCdcError {
  constructor(key: string, reason: string) {
    super('STORAGE_KEY_INVALID', `invalid storage key ${JSON.stringify(key)}: ${reason}`, {
      hint: "keys are '/'-separated relative paths without '.', '..' or empty segments",
      context: { key },
    });
  }
}

/** A feature that exists in the configuration but not yet in this build. */
export class NotAvailableError extends PgCdcError {
  constructor(message: string, options: PgCdcErrorOptions = {}) {
    super('NOT_AVAILABLE', message, options);
  }
}

/**
 * A storage or catalog kind the configuration accepts but this build cannot open yet. Raised when the lake is opened
 * (never later, half-way through a command), naming the setting and what to set instead.
 */
export class LakeKindNotAvailableError extends NotAvailableError {
  constructor(field: 'storage.type' | 'catalog.type', value: string, hint: string) {
    super(`${field} ${value} is not available in this version`, { context: { field, value }, hint });
  }
}

export class TableNotFoundError extends PgCdcError {
  constructor(table: string) {
    super('TABLE_NOT_FOUND', `table ${table} is not in the catalog`, {
      hint: 'create it first (the snapshot does), or check the identifier: namespace.name',
      context: { table },
    });
  }
}

export class TableExistsError extends PgCdcError {
  constructor(table: string, metadataKey: string) {
    super('TABLE_EXISTS', `table ${table} already exists`, { context: { table, metadata: metadataKey } });
  }
}

/** A lake file that does not parse or violates the format we write: never retried, someone must look at it. */
export class LakeFormatError extends PgCdcError {
  constructor(message: string, context: Record<string, string | number | undefined>, cause?: unknown) {
    super('LAKE_CORRUPT', message, {
      hint: 'the file was changed outside pg-cdc or written by an incompatible version; inspect it',
      context,
      cause,
    });
  }
}

export class InvalidIdentifierError extends PgCdcError {
  constructor(identifier: string) {
    super('TABLE_IDENTIFIER_INVALID', `invalid table identifier ${JSON.stringify(identifier)}`, {
      hint: 'identifiers are namespace.name, e.g. public.orders or public.orders__changes',
      context: { table: identifier },
    });
  }
}
