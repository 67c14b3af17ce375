import { ApplicationFailure } from '@temporalio/common';
import { isPgCdcError } from '../core/errors/index.js';

/** Codes that a retry cannot fix: the input or the environment must change first. */
const NON_RETRYABLE = new Set(['CONFIG_INVALID', 'ENVIRONMENT']);

/**
 * Run an activity body and turn a PgCdcError into an ApplicationFailure whose type is the error's code, so the
 * workflow history shows the code, context and hint, and the retry policy can tell bad input from a passing fault.
 */
export async function asActivity<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (!isPgCdcError(error)) throw error;
    throw ApplicationFailure.create({
      type: error.code,
      message: error.message,
      nonRetryable: NON_RETRYABLE.has(error.code),
      details: [{ context: error.context, hint: error.hint }],
      cause: error,
    });
  }
}
