import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  deprecatePatch,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { NON_RETRYABLE_CODES, type ErrorCode } from '../core/errors/catalog.js';
import type { ChunkResult, SnapshotTable } from '../activities/snapshot.js';
import { inPool } from './pool.js';
import {
  progressQuery,
  snapshotExportedSignal,
  type SnapshotExported,
  type SnapshotProgress,
  type TableProgress,
} from './snapshot-messages.js';

export interface SnapshotInput {
  readonly slot: string;
  /** A task queue only this host's worker polls: the exporting connection must live next to its worker. */
  readonly hostTaskQueue: string;
  readonly parallelWorkers: number;
  readonly attempt?: number;
  /** Why the previous run gave up its slot and started over; visible in this run's input in the history. */
  readonly restartReason?: string;
  readonly maxAttempts?: number;
}

export interface SnapshotResult {
  readonly slot: string;
  readonly consistentPoint: string;
  readonly attempt: number;
  readonly tables: ReadonlyArray<{ table: string; rows: number; files: number; snapshotId: string }>;
}

/**
 * Retired with deprecatePatch(): its old branch (cancel the hold instead of releasing it) served only runs started
 * before 39c90f6, and those cannot replay anyway: that change also moved `assertSlotAbsent` beside
 * `describeSnapshotTables` without a marker (test/unit/replay.test.ts showed the nondeterminism). Runs since then
 * hold the marker, which deprecatePatch() accepts; new runs write it marked deprecated, so the call itself can go
 * once no running snapshot holds the old marker.
 */
const RELEASE_BY_ACTIVITY = 'release-export-by-activity';
/** Workflows started before this change ran the setup steps as activities; the marker keeps them replayable. */
const SETUP_BY_LOCAL_ACTIVITIES = 'setup-by-local-activities';
/** Workflows started before this change ran the setup steps one after another. */
const SETUP_SIDE_BY_SIDE = 'setup-side-by-side';

// The short control steps, as activities or local ones: the same retries either way.
const CONTROL_RETRY: RetryPolicy = {
  initialInterval: '1s',
  maximumInterval: '30s',
  maximumAttempts: 10,
  nonRetryableErrorTypes: [...NON_RETRYABLE_CODES],
};

const control = proxyActivities<Activities>({ startToCloseTimeout: '5 minutes', retry: CONTROL_RETRY });

// The steps before the first row moves are short reads and one idempotent DDL: as local activities they run inside
// the workflow task, without a round trip through the server for each (their results are markers in the history).
// A source that cannot be reached before anything has started is a wrong URL, port or password far more often than
// a passing fault: `init` says so at once, with the hint, instead of retrying for minutes. Later steps still retry.
const setup = proxyLocalActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: {
    ...CONTROL_RETRY,
    nonRetryableErrorTypes: [...NON_RETRYABLE_CODES, 'SOURCE_UNREACHABLE' satisfies ErrorCode],
  },
});

const copying = proxyActivities<Activities>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '1 minute',
  retry: {
    initialInterval: '1s',
    maximumInterval: '30s',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [...NON_RETRYABLE_CODES],
  },
});

/**
 * The consistent initial snapshot: one exported snapshot, at the slot's consistent point, read in parallel
 * CTID-range chunks, committed as one Iceberg snapshot per table. If the exporting connection dies, the snapshot
 * is gone with it: the slot is dropped and the workflow starts over as a new run.
 */
export async function snapshotWorkflow(input: SnapshotInput): Promise<SnapshotResult> {
  const attempt = input.attempt ?? 1;
  let progress: SnapshotProgress = { phase: 'preflight', attempt, tables: [] };
  setHandler(progressQuery, () => progress);
  let exported: SnapshotExported | undefined;
  setHandler(snapshotExportedSignal, (message) => void (exported = message));
  if (input.restartReason)
    log.warn('starting over after losing the exported snapshot', { reason: input.restartReason });

  const steps = patched(SETUP_BY_LOCAL_ACTIVITIES) ? setup : control;
  // Every setup step is a round trip to the source; side by side, the setup takes two of them instead of four.
  const sideBySide = patched(SETUP_SIDE_BY_SIDE);
  const preflight = steps.preflight();
  // Both only read. A slot or lake left by an earlier attempt is this workflow's own.
  const reads = sideBySide ? quiet(describeAndCheckSlot(steps, attempt)) : undefined;
  const report = await preflight;
  if (!report.ready) {
    throw ApplicationFailure.create({
      type: 'PREFLIGHT_FAILED',
      message: `the source is not ready: ${report.checks
        .filter((c) => c.status === 'fail')
        .map((c) => c.summary)
        .join('; ')}`,
      nonRetryable: true,
      details: [report],
    });
  }
  const tables = await (reads ?? describeAndCheckSlot(steps, attempt));
  // Chunks are planned from page counts, not from the snapshot or the publication: planned meanwhile.
  let planning = sideBySide ? quiet(steps.planChunks(tables)) : undefined;
  progress = { ...progress, phase: 'publication' };
  await steps.preparePublication(tables.map((t) => ({ schema: t.source.schema, name: t.source.name })));

  progress = { ...progress, phase: 'exporting' };
  // Host-pinned: if this host's worker is gone, nothing polls the queue. The hold fails if it is not picked up
  // within two minutes (before the slot exists), and the whole of it is bounded like every host-pinned activity.
  const holding = proxyActivities<Activities>({
    taskQueue: input.hostTaskQueue,
    scheduleToStartTimeout: '2 minutes',
    startToCloseTimeout: '7 days',
    scheduleToCloseTimeout: '7 days',
    heartbeatTimeout: '30 seconds',
    cancellationType: 'WAIT_CANCELLATION_COMPLETED',
    // The slot exists once this activity has run: a retry could only fail on it, so the workflow decides instead.
    retry: { maximumAttempts: 1 },
  });
  // Same host queue as the hold: the release must reach the process holding the exporting connection.
  const releasing = proxyActivities<Activities>({
    taskQueue: input.hostTaskQueue,
    scheduleToCloseTimeout: '30 seconds',
    retry: { maximumAttempts: 1 },
  });
  const holdScope = new CancellationScope();
  let holdFailure: unknown;
  const hold = holdScope
    .run(() => holding.holdExportedSnapshot())
    .catch((error: unknown) => {
      if (!isCancellation(error)) holdFailure = error;
    });
  planning ??= quiet(steps.planChunks(tables));
  await condition(() => exported !== undefined || holdFailure !== undefined);
  if (!exported) throw holdFailure;
  const snapshot = exported;
  progress = { ...progress, consistentPoint: snapshot.consistentPoint };

  const chunks = await planning;
  const counters = new Map<string, TableProgress>(
    tables.map((t) => [
      t.identifier,
      {
        table: t.identifier,
        chunksTotal: chunks.filter((c) => c.identifier === t.identifier).length,
        chunksDone: 0,
        rowsDone: 0,
        estimatedRows: t.estimatedRows,
      },
    ]),
  );
  const publish = (phase: SnapshotProgress['phase']): void => {
    progress = { ...progress, phase, tables: [...counters.values()] };
  };
  publish('copying');

  let results: ChunkResult[];
  const copyScope = new CancellationScope();
  try {
    results = await Promise.race([
      copyScope.run(() =>
        inPool(chunks, input.parallelWorkers, async (chunk) => {
          const table = tables.find((t) => t.identifier === chunk.identifier) as SnapshotTable;
          const result = await copying.copyChunk({ chunk, table, snapshot });
          const counter = counters.get(chunk.identifier)!;
          counters.set(chunk.identifier, {
            ...counter,
            chunksDone: counter.chunksDone + 1,
            rowsDone: counter.rowsDone + result.rows,
          });
          publish('copying');
          return result;
        }),
      ),
      condition(() => holdFailure !== undefined).then(() => {
        throw holdFailure;
      }),
    ]);
  } catch (error) {
    copyScope.cancel();
    holdScope.cancel();
    await hold;
    const reason = describe(holdFailure ?? error);
    if (holdFailure === undefined && !isSnapshotGone(error)) {
      // Not a lost snapshot: give the slot back (a failed snapshot must not pin WAL on the source) and fail.
      await control.abandonSnapshotAttempt({ slot: snapshot.slot, consistentPoint: snapshot.consistentPoint, reason });
      throw error;
    }
    return startOver(input, attempt, snapshot, reason);
  }

  publish('committing');
  // Every chunk is copied: the exported snapshot has done its work, so it is released while the tables commit.
  // A release reaches the hold at once; a cancellation only with the hold's next heartbeat, up to a second later.
  deprecatePatch(RELEASE_BY_ACTIVITY);
  const released = releasing
    .releaseExportedSnapshot(snapshot.snapshotName)
    .catch((error: unknown) => {
      log.warn('releasing the exported snapshot failed; cancelling its hold instead', { error });
      return false;
    })
    .then((done) => {
      if (!done) holdScope.cancel();
    });
  const committed = await Promise.all(
    tables.map((table) =>
      control.commitSnapshotTable({
        table,
        files: results.filter((r) => r.identifier === table.identifier).map((r) => r.dataFile),
        snapshot,
      }),
    ),
  );
  await released;
  await hold;
  publish('done');
  return { slot: snapshot.slot, consistentPoint: snapshot.consistentPoint, attempt, tables: committed };
}

type SetupSteps = typeof setup;

async function describeAndCheckSlot(steps: SetupSteps, attempt: number): Promise<SnapshotTable[]> {
  const [tables] = await Promise.all([
    steps.describeSnapshotTables(),
    attempt === 1 ? steps.assertSlotAbsent() : Promise.resolve(),
  ]);
  return tables;
}

/** A step started now and awaited later: its failure is raised where it is awaited, not as an unhandled rejection. */
function quiet<T>(step: Promise<T>): Promise<T> {
  step.catch(() => undefined);
  return step;
}

function isSnapshotGone(error: unknown): boolean {
  return (
    error instanceof ActivityFailure &&
    error.cause instanceof ApplicationFailure &&
    error.cause.type === 'SNAPSHOT_GONE'
  );
}

function describe(error: unknown): string {
  if (error instanceof ActivityFailure) return `${error.message}: ${error.cause?.message ?? 'no cause'}`;
  return error instanceof Error ? error.message : String(error);
}

async function startOver(
  input: SnapshotInput,
  attempt: number,
  snapshot: SnapshotExported,
  reason: string,
): Promise<never> {
  const maxAttempts = input.maxAttempts ?? 5;
  await control.abandonSnapshotAttempt({ slot: snapshot.slot, consistentPoint: snapshot.consistentPoint, reason });
  if (attempt >= maxAttempts) {
    throw ApplicationFailure.nonRetryable(
      `gave up after ${attempt} attempts: ${reason}`,
      'SNAPSHOT_ATTEMPTS_EXHAUSTED',
    );
  }
  return continueAsNew<typeof snapshotWorkflow>({ ...input, attempt: attempt + 1, restartReason: reason });
}
