import { isPgCdcError, PgCdcError, type PgCdcErrorOptions } from '../core/errors/index.js';

/**
 * One catalog of the error codes the front doors answer with, and the HTTP status of each. MCP shows the same
 * code, message and hint in an `isError` result. Anything that is not a PgCdcError (a driver or DuckDB error, a
 * bug) is never shown to a client: it becomes INTERNAL with a request id, and the details go to the log.
 */
export const ERROR_STATUS: Readonly<Record<string, number>> = {
  BAD_REQUEST: 400,
  QUERY_INVALID: 400,
  /** The query ran and a value the caller gave did not convert (a word compared with a number column, ...). */
  QUERY_FAILED: 400,
  COLUMN_NOT_FOUND: 400,
  INVALID_IDENTIFIER: 400,
  REF_INVALID: 400,
  UNAUTHORIZED: 401,
  PRINCIPAL_UNKNOWN: 403,
  HOST_NOT_ALLOWED: 403,
  NOT_FOUND: 404,
  TABLE_NOT_FOUND: 404,
  SNAPSHOT_NOT_FOUND: 404,
  REF_NOT_FOUND: 404,
  EPOCH_NOT_FOUND: 404,
  LAKE_EMPTY: 404,
  METHOD_NOT_ALLOWED: 405,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  NOT_AVAILABLE: 501,
  QUERY_TIMEOUT: 504,
};

/** The single error shape of every REST response that is not a success. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly hint?: string };
}

/** An error raised by the front doors themselves (auth, limits, validation), with its HTTP status. */
export class ApiError extends PgCdcError {
  readonly status: number;
  /** Seconds, for RATE_LIMITED. */
  readonly retryAfter: number | undefined;

  constructor(code: string, message: string, options: PgCdcErrorOptions & { retryAfter?: number } = {}) {
    super(code, message, options);
    this.status = ERROR_STATUS[code] ?? 500;
    this.retryAfter = options.retryAfter;
  }
}

/** Status for any error: ours by code; PgCdcErrors with codes outside the catalog are 500 but keep their text. */
export function statusOf(error: unknown): number {
  if (error instanceof ApiError) return error.status;
  if (isPgCdcError(error)) return ERROR_STATUS[error.code] ?? 500;
  return 500;
}

/**
 * What a client is told. A PgCdcError's message and hint are written for users and carry no driver text; any
 * other error is replaced by a generic INTERNAL naming the request, so the operator can find it in the log.
 */
export function errorBody(error: unknown, requestId: string): ErrorBody {
  if (isPgCdcError(error)) {
    return { error: { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) } };
  }
  return {
    error: {
      code: 'INTERNAL',
      message: `the request failed on the server (request ${requestId})`,
      hint: 'the server log has the details under this request id; retry, and report it if it persists',
    },
  };
}

/** The text an MCP `isError` result carries: the same code, message and hint as the REST body. */
export function errorText(error: unknown, requestId: string): string {
  const { code, message, hint } = errorBody(error, requestId).error;
  return `${code}: ${message}${hint ? `\nhint: ${hint}` : ''}`;
}
