import { ApplicationFailure } from '@temporalio/common';
import { isPgCdcError, isRetryableCode } from '../core/errors/index.js';

/**
 * Run an activity body and turn a PgCdcError into an ApplicationFailure whose type is the error's code, so the
 * workflow history shows the code, context and hint. Whether Temporal retries it is the failure catalog's call
 * (core/errors/catalog.ts): permanent and bad-input codes are not retried, whatever the caller's retry policy.
 */
export async function asActivity<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (!isPgCdcError(error)) throw error;
    throw ApplicationFailure.create({
      type: error.code,
      message: error.message,
      nonRetryable: !isRetryableCode(error.code),
      details: [{ context: error.context, hint: error.hint }],
      cause: error,
    });
  }
}
