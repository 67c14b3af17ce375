import { hostname } from 'node:os';

/**
 * The task queue only this host's worker polls. Stable across restarts of the worker on the same host, so a
 * workflow that names it finds the restarted worker; distinct per main queue, so test workers do not meet.
 */
export const hostTaskQueue = (taskQueue: string, host: string = hostname()): string => `${taskQueue}@${host}`;
