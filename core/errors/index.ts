/**
 * Every error pg-cdc raises on purpose is a PgCdcError: a stable `code` a script can match on, the context
 * that locates it (key path, table, LSN, epoch, file path ...) and a `hint` that says what to do next. Every
 * code is declared once in the failure catalog (catalog.ts), which says whether a retry can help.
 */
import type { ErrorCode } from './catalog.js';

export * from './catalog.js';

export type ErrorContext = Readonly<Record<string, string | number | bigint | boolean | undefined>>;

export interface PgCdcErrorOptions {
  readonly hint?: string;
  readonly context?: ErrorContext;
  readonly cause?: unknown;
}

export class PgCdcError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, options: PgCdcErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
    this.context = Object.freeze({ ...options.context });
  }

  /** One human-readable block: message, context and hint, as the CLI prints it. */
  describe(): string {
    const lines = [`${this.code}: ${this.message}`];
    const context = Object.entries(this.context).filter(([, value]) => value !== undefined);
    if (context.length > 0) lines.push(`  context: ${context.map(([k, v]) => `${k}=${String(v)}`).join(' ')}`);
    if (this.hint) lines.push(`  hint: ${this.hint}`);
    return lines.join('\n');
  }
}

/** One problem found in pg-cdc.yml: where it is (a dotted key path) and how to fix it. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
  readonly hint?: string;
}

export class ConfigError extends PgCdcError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], options: { file?: string; cause?: unknown } = {}) {
    const first = issues[0];
    const summary =
      issues.length === 1 && first
        ? `${first.path || '(root)'}: ${first.message}`
        : `${issues.length} problems in the configuration`;
    super('CONFIG_INVALID', summary, {
      context: { file: options.file },
      hint: issues.length === 1 ? first?.hint : 'fix each key listed below',
      cause: options.cause,
    });
    this.issues = Object.freeze([...issues]);
  }

  override describe(): string {
    const where = this.context.file ? ` in ${String(this.context.file)}` : '';
    const lines = [`CONFIG_INVALID: ${this.issues.length} problem(s)${where}`];
    for (const issue of this.issues) {
      lines.push(`  - ${issue.path || '(root)'}: ${issue.message}`);
      if (issue.hint) lines.push(`      fix: ${issue.hint}`);
    }
    return lines.join('\n');
  }
}

/** The source database could not be reached or refused us. */
export class SourceConnectionError extends PgCdcError {
  constructor(message: string, options: PgCdcErrorOptions = {}) {
    super('SOURCE_UNREACHABLE', message, options);
  }
}

/** A local dependency (binary, toolchain, service) the project starts itself is missing or failed to start. */
export class EnvironmentError extends PgCdcError {
  constructor(message: string, options: PgCdcErrorOptions = {}) {
    super('ENVIRONMENT', message, options);
  }
}

export class TemporalConnectionError extends PgCdcError {
  constructor(message: string, options: PgCdcErrorOptions = {}) {
    super('TEMPORAL_UNREACHABLE', message, options);
  }
}

export function isPgCdcError(error: unknown): error is PgCdcError {
  return error instanceof PgCdcError;
}
