/**
 * The AWS clients of Lake Formation enforcement (`governance.catalog: glue`): Lake Formation and Glue, in the
 * catalog's region and at its endpoint (moto, LocalStack), with the default credentials. Every AWS failure becomes
 * LAKE_FORMATION_FAILED, naming the operation and the resource (the CLI exits 2 on it).
 */
import { GlueClient } from '@aws-sdk/client-glue';
import { LakeFormationClient } from '@aws-sdk/client-lakeformation';
import type { PgCdcConfig } from '../../core/config/index.js';
import type { ErrorContext } from '../../core/errors/index.js';
import { GovernanceError } from '../errors.js';

export interface LakeFormationClients {
  readonly lakeFormation: LakeFormationClient;
  readonly glue: GlueClient;
  /** The Glue database the lake's tables are registered in (`catalog.database`). */
  readonly database: string;
}

export function openLakeFormation(config: PgCdcConfig): LakeFormationClients & { close(): void } {
  const options = {
    ...(config.catalog.region === undefined ? {} : { region: config.catalog.region }),
    ...(config.catalog.endpoint === undefined ? {} : { endpoint: config.catalog.endpoint }),
  };
  const lakeFormation = new LakeFormationClient(options);
  const glue = new GlueClient(options);
  return {
    lakeFormation,
    glue,
    database: config.catalog.database,
    close() {
      lakeFormation.destroy();
      glue.destroy();
    },
  };
}

export class LakeFormationError extends GovernanceError {}

/** An AWS call of Lake Formation enforcement failed: say which, on what, and what usually fixes it. */
export function lakeFormationFailure(
  operation: string,
  cause: unknown,
  context: ErrorContext = {},
): LakeFormationError {
  const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
  return new LakeFormationError('LAKE_FORMATION_FAILED', `Lake Formation ${operation} failed: ${reason}`, {
    context: { operation, ...context },
    hint:
      'check catalog.region, catalog.endpoint and the credentials; the principal must be a Lake Formation data lake ' +
      'administrator (or hold the LF-tag permissions) and see the Glue database catalog.database',
    cause,
  });
}

/** AddLFTagsToResource and RemoveLFTagsFromResource answer 200 with per-tag failures: those are failures too. */
export function throwOnTagFailures(
  operation: string,
  failures:
    | readonly { Error?: { ErrorCode?: string | undefined; ErrorMessage?: string | undefined } | undefined }[]
    | undefined,
  context: ErrorContext,
): void {
  const first = failures?.find((failure) => failure.Error);
  if (first?.Error) {
    const error = new Error(first.Error.ErrorMessage ?? 'failed');
    error.name = first.Error.ErrorCode ?? 'Failure';
    throw lakeFormationFailure(operation, error, context);
  }
}
