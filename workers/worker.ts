import { fileURLToPath } from 'node:url';
import { installRuntime } from './runtime.js';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Worker,
  type NativeConnection,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import type { Logger } from '../core/log/index.js';
import type { Activities } from '../activities/index.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** Bundling the workflow code takes seconds: do it once and share the bundle between workers (tests do). */
export async function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
}

export interface PgCdcWorkerOptions {
  readonly connection: NativeConnection;
  readonly namespace: string;
  readonly taskQueue: string;
  readonly activities: Activities;
  readonly log: Logger;
  readonly workflowBundle?: WorkflowBundleWithSourceMap;
  /** false: an activity-only worker (the host-pinned queue runs no workflows). */
  readonly workflows?: boolean;
}

export async function createWorker(options: PgCdcWorkerOptions): Promise<Worker> {
  installRuntime(options.log);
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: options.activities,
    ...(options.workflows === false
      ? {}
      : options.workflowBundle
        ? { workflowBundle: options.workflowBundle }
        : { workflowsPath: WORKFLOWS_PATH }),
  });
}
