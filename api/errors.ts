/**
 * The front doors answer every PgCdcError with the HTTP status its code has in the failure catalog (core/errors);
 * MCP shows the same code, message and hint in an `isError` result. Anything that is not a PgCdcError (a driver or
 * DuckDB error, a bug) is never shown to a client: it becomes INTERNAL with a request id, and the details go to
 * the log.
 */
import {
  httpStatusOf,
  isPgCdcError,
  PgCdcError,
  type ErrorCode,
  type PgCdcErrorOptions,
} from '../core/errors/index.js';

/** The single error shape of every REST response that is not a success. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly hint?: string };
}

/** An error raised by the front doors themselves (auth, limits, validation), with its HTTP status. */
export class ApiError extends PgCdcError {
  readonly status: number;
  /** Seconds, for RATE_LIMITED. */
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message: string, options: PgCdcErrorOptions & { retryAfter?: number } = {}) {
    super(code, message, options);
    this.status = httpStatusOf(code);
    this.retryAfter = options.retryAfter;
  }
}

/** Status for any error: a PgCdcError's by its code in the catalog; anything else is 500. */
export function statusOf(error: unknown): number {
  if (error instanceof ApiError) return error.status;
  if (isPgCdcError(error)) return httpStatusOf(error.code);
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
