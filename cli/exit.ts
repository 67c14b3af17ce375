import type { TemporalFailure } from '@temporalio/common';
import { isErrorCode, isPgCdcError } from '../core/errors/index.js';

// The Temporal packages take about a quarter of a second to load: every command starts without them, and only a
// failure that may have come from Temporal loads them to be described.
const temporalErrors = async () => {
  const [{ WorkflowFailedError }, { ApplicationFailure, TemporalFailure }] = await Promise.all([
    import('@temporalio/client'),
    import('@temporalio/common'),
  ]);
  return { WorkflowFailedError, ApplicationFailure, TemporalFailure };
};

/**
 * The failure to show for a failed workflow: the first ApplicationFailure in the chain whose type is a code of the
 * failure catalog (an activity's PgCdcError), else the innermost failure.
 */
function rootFailure(
  error: TemporalFailure,
  { ApplicationFailure, TemporalFailure }: Awaited<ReturnType<typeof temporalErrors>>,
): TemporalFailure {
  let current: TemporalFailure = error;
  for (;;) {
    if (current instanceof ApplicationFailure && current.type && isErrorCode(current.type)) return current;
    if (!(current.cause instanceof TemporalFailure)) return current;
    current = current.cause;
  }
}

/** Exit codes shared by every command: scripts and CI can rely on them. */
export const EXIT = {
  ok: 0,
  /** The command ran and the answer is "no": preflight not ready, drift found, ... */
  notReady: 1,
  /** Could not do the work: bad configuration, unreachable source or Temporal, missing tool. */
  error: 2,
  /** acl diff/sync: drift was found and healed. */
  driftHealed: 3,
  /** promote: the diff is breaking (or not safe) and --force was not given; nothing moved. */
  refused: 3,
} as const;

/** Print an error the way a person can act on it, and return the exit code it maps to. Never a bare stack. */
export async function reportError(error: unknown, stream: NodeJS.WritableStream = process.stderr): Promise<number> {
  if (isPgCdcError(error)) {
    stream.write(`pg-cdc: ${error.describe()}\n`);
    return EXIT.error;
  }
  const temporal = await temporalErrors();
  const { WorkflowFailedError, ApplicationFailure, TemporalFailure } = temporal;
  if (error instanceof WorkflowFailedError && error.cause instanceof TemporalFailure) {
    const root = rootFailure(error.cause, temporal);
    const code = root instanceof ApplicationFailure && root.type ? root.type : 'WORKFLOW_FAILED';
    const details =
      root instanceof ApplicationFailure ? (root.details?.[0] as { hint?: string } | undefined) : undefined;
    stream.write(`pg-cdc: ${code}: ${root.message}\n`);
    if (details?.hint) stream.write(`  hint: ${details.hint}\n`);
    stream.write(`  workflow: ${error.message}\n`);
    return EXIT.error;
  }
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  stream.write(`pg-cdc: unexpected error: ${message}\n`);
  return EXIT.error;
}
