import type { NativeConnection, Worker, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities/index.js';
import { settleLocatorUpdates } from '../lake/state/locator-updates.js';
import { hostTaskQueue } from './host-queue.js';
import { createWorker } from './worker.js';

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
}): Promise<WorkerPair> {
  const activities = createActivities(options.deps);
  const base = { connection: options.connection, namespace: options.namespace, activities, log: options.deps.log };
  const hostQueue = hostTaskQueue(options.taskQueue);
  const workers: Worker[] = await Promise.all([
    createWorker({ ...base, taskQueue: options.taskQueue, workflowBundle: options.workflowBundle }),
    createWorker({ ...base, taskQueue: hostQueue, workflows: false }),
  ]);
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
        await settleLocatorUpdates();
      }
    },
    async run() {
      try {
        await Promise.all(workers.map((worker) => worker.run()));
      } finally {
        // Epochs return before their locator update finished: the next start should find the locators current.
        await settleLocatorUpdates();
      }
    },
    shutdown,
  };
}
