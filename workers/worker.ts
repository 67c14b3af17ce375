import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { cacheDir, projectRoot } from '../stack/paths.js';
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

export const WORKFLOWS_PATH = join(projectRoot(), 'workflows', 'index.ts');

/** What the bundle is made of: every workflow source and the exact SDK the bundle embeds. */
function bundleFingerprint(): string {
  const hash = createHash('sha256');
  const dir = dirname(WORKFLOWS_PATH);
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .sort()) {
    hash.update(file).update(readFileSync(join(dir, file)));
  }
  hash.update(readFileSync(createRequire(import.meta.url).resolve('@temporalio/workflow/package.json')));
  return hash.digest('hex').slice(0, 16);
}

/**
 * Bundling the workflow code with webpack takes seconds, on every command that runs a worker. The bundle depends
 * only on the workflow sources and the SDK version, so it is cached under that fingerprint and rebuilt when
 * either changes. Workers in one process share it.
 */
export async function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  const file = join(cacheDir(), 'workflow-bundles', `${bundleFingerprint()}.json`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as WorkflowBundleWithSourceMap;
  } catch {
    const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
    mkdirSync(dirname(file), { recursive: true });
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify(bundle));
    renameSync(temp, file);
    return bundle;
  }
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
  /**
   * Run workflow code on this thread instead of the SDK's worker thread. That thread loads the SDK and its protobuf
   * definitions a second time before it takes the first task (about 0.3 s here), which a short-lived process like
   * `init`, with one workflow and a handful of workflow tasks, pays on every run. A process that streams keeps the
   * worker thread, so workflow tasks never wait behind decoding.
   */
  readonly workflowsOnMainThread?: boolean;
}

export async function createWorker(options: PgCdcWorkerOptions): Promise<Worker> {
  installRuntime(options.log);
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: options.activities,
    // Cancellation reaches an activity only with a heartbeat's response; the default throttle (80% of the heartbeat
    // timeout) would keep a cancelled snapshot export open for most of that timeout.
    maxHeartbeatThrottleInterval: '1 second',
    // After a crash, a table actor's next task (the start's state query, the first epoch's update) first waits on
    // the dead process's sticky queue for this long before it goes to a live worker (default 10 s). Actor histories
    // are short (continue-as-new), so losing stickiness to a slow worker costs little.
    stickyQueueScheduleToStartTimeout: '2 seconds',
    // The SDK calls running on this thread its debug mode and lifts the deadlock limit there; the limit is kept.
    ...(options.workflowsOnMainThread ? { debugMode: true, isolateExecutionTimeout: '5 seconds' } : {}),
    ...(options.workflows === false ? {} : { workflowBundle: options.workflowBundle ?? (await bundleWorkflows()) }),
  });
}
