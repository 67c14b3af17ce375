import { PgCdcError, type ErrorContext } from '../../core/errors/index.js';

/** What the AWS SDK puts on the errors it throws: the service's exception name and whether a retry may help. */
interface AwsServiceError {
  readonly name?: string;
  readonly message?: string;
  readonly $retryable?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

const DENIED = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'CredentialsProviderError',
]);

/** The Glue exception name of an SDK error; '' when it is not one. */
export function awsErrorName(error: unknown): string {
  return typeof error === 'object' && error !== null ? String((error as AwsServiceError).name ?? '') : '';
}

/**
 * An SDK failure of a Glue call as a PgCdcError: refused credentials are permanent (a retry signs with the same
 * ones), everything else (throttling, a 5xx, the network) is CATALOG_UNAVAILABLE and retried by the caller's
 * policy after the SDK's own retries gave up.
 */
export function glueFailure(operation: string, error: unknown, context: ErrorContext): PgCdcError {
  if (error instanceof PgCdcError) return error;
  const name = awsErrorName(error);
  const reason = error instanceof Error ? error.message : String(error);
  if (DENIED.has(name) || (error as AwsServiceError | undefined)?.$metadata?.httpStatusCode === 403) {
    return new PgCdcError('CATALOG_ACCESS_DENIED', `AWS Glue refused ${operation}: ${reason}`, {
      context: { ...context, exception: name },
      hint: 'grant the role pg-cdc runs as glue:GetTable, GetTables, CreateTable, UpdateTable, DeleteTable, GetDatabase and CreateDatabase on the catalog database (see docs/aws.md), and check the credentials the AWS SDK finds',
      cause: error,
    });
  }
  return new PgCdcError('CATALOG_UNAVAILABLE', `AWS Glue failed ${operation}: ${reason}`, {
    context: { ...context, exception: name || undefined },
    hint: 'check the network path to Glue (catalog.region, catalog.endpoint); throttling and outages pass, and the step is retried',
    cause: error,
  });
}

/** A Glue table that does not hold what pg-cdc registers: someone changed it, or it is not ours. */
export class CatalogEntryInvalidError extends PgCdcError {
  constructor(message: string, context: ErrorContext) {
    super('CATALOG_ENTRY_INVALID', message, {
      context,
      hint: 'inspect the Glue table; `pg-cdc catalog register` points it at the lake again, or drop it if it is not pg-cdc’s',
    });
  }
}
