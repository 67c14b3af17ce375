import type { NativeConnection, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Activities, ActivityDeps } from '../activities/index.js';
import { ACTIVITY_NAMES } from '../activities/names.js';
import { hostTaskQueue } from './host-queue.js';
import { createWorker } from './worker.js';

/**
 * The activities, registered by name now and loaded once Worker.create has started its workflow thread (a turn of
 * the event loop later). Their modules (DuckDB, pg, the Iceberg writer) take a few hundred ms of the main thread to
 * load, and the workflow thread takes longer than that to load the SDK and the workflow bundle on the other core:
 * the two overlap instead of following each other. An activity called before the load has finished waits for it.
 */
function deferredActivities(deps: ActivityDeps): {
  activities: Activities;
  loaded: Promise<Activities>;
  settle: () => Promise<void>;
} {
  const module = new Promise<void>((resolve) => setImmediate(resolve)).then(() => import('../activities/index.js'));
  const loaded = module.then(({ createActivities }) => createActivities(deps));
  const activities = Object.fromEntries(
    ACTIVITY_NAMES.map((name) => [
      name,
      async (...args: unknown[]) => ((await loaded)[name] as (...a: unknown[]) => Promise<unknown>)(...args),
    ]),
  ) as unknown as Activities;
  return { activities, loaded, settle: async () => (await module).settleActivities() };
}

export interface WorkerPair {
  readonly taskQueue: string;
  readonly hostTaskQueue: string;
  /** Run both workers until `until` settles (or forever), then shut them down; resolves with `until`'s value. */
  runUntil<T>(until: Promise<T> | (() => Promise<T>)): Promise<T>;
  run(): Promise<void>;
  readonly shutdown: () => void;
}

/**
 * A process's workers: one on the shared task queue (workflows and every movable activity) and one on this host's
 * queue (activities that must stay next to a connection they hold, like the snapshot export).
 */
export async function createWorkerPair(options: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  workflowBundle?: WorkflowBundleWithSourceMap;
  /** See PgCdcWorkerOptions.workflowsOnMainThread. */
  workflowsOnMainThread?: boolean;
}): Promise<WorkerPair> {
  const { activities, loaded, settle } = deferredActivities(options.deps);
  const base = { connection: options.connection, namespace: options.namespace, activities, log: options.deps.log };
  const hostQueue = hostTaskQueue(options.taskQueue);
  const created = Promise.all([
    createWorker({
      ...base,
      taskQueue: options.taskQueue,
      workflowBundle: options.workflowBundle,
      workflowsOnMainThread: options.workflowsOnMainThread,
    }),
    createWorker({ ...base, taskQueue: hostQueue, workflows: false }),
  ]);
  const [workers] = await Promise.all([created, loaded]);
  const shutdown = (): void => {
    for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
  };
  return {
    taskQueue: options.taskQueue,
    hostTaskQueue: hostQueue,
    async runUntil<T>(until: Promise<T> | (() => Promise<T>)): Promise<T> {
      const running = Promise.all(workers.map((worker) => worker.run()));
      try {
        return await (typeof until === 'function' ? until() : until);
      } finally {
        shutdown();
        await running;
        await settle();
      }
    },
    async run() {
      try {
        await Promise.all(workers.map((worker) => worker.run()));
      } finally {
        // Epochs return before their locator update finished: the next start should find the locators current.
        await settle();
      }
    },
    shutdown,
  };
}
