import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { EnvironmentError } from '../core/errors/index.js';

/**
 * A server process the embedded stack owns: output goes to a log file (whose tail explains any failure),
 * readiness is polled, and stop() escalates from a polite signal to SIGKILL.
 */
export class ManagedProcess {
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve();
      });
    });
  }

  static start(
    name: string,
    command: string,
    args: readonly string[],
    options: SpawnOptions & { logFile: string },
  ): ManagedProcess {
    const { logFile, ...spawnOptions } = options;
    const fd = openSync(logFile, 'a');
    try {
      const child = spawn(command, args, { ...spawnOptions, stdio: ['ignore', fd, fd] });
      const managed = new ManagedProcess(name, child, logFile);
      child.once('error', (error) => {
        managed.exit = { code: -1, signal: null };
        managed.spawnError = error;
      });
      return managed;
    } finally {
      closeSync(fd);
    }
  }

  private spawnError: Error | undefined;

  get running(): boolean {
    return this.exit === undefined && this.spawnError === undefined;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  logTail(lines = 30): string {
    if (!existsSync(this.logFile)) return '';
    return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** Poll `ready` until it resolves true; fail early, with the log tail, if the process dies first. */
  async waitUntilReady(ready: () => Promise<boolean>, timeoutMs: number, hint: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) {
        throw new EnvironmentError(`${this.name} exited before it was ready`, {
          context: { log: this.logFile, code: this.exit?.code ?? undefined, signal: this.exit?.signal ?? undefined },
          hint: `${hint}\n--- last lines of ${this.logFile} ---\n${this.logTail()}${this.spawnError ? `\n${this.spawnError.message}` : ''}`,
        });
      }
      if (await ready()) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new EnvironmentError(`${this.name} was not ready after ${Math.round(timeoutMs / 1000)} s`, {
          context: { log: this.logFile },
          hint: `${hint}\n--- last lines of ${this.logFile} ---\n${this.logTail()}`,
        });
      }
      await sleep(100);
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const killed = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!killed) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

/** True when a process with this pid exists (signal 0 probes without delivering anything). */
export function processAlive(pid: number | null | undefined): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stop a process we did not spawn ourselves (a daemonised server found through its pid file): send `signal`, wait up
 * to `graceMs` for it to exit, then SIGKILL. Returns false when it was not running.
 */
export async function stopPid(
  pid: number | null | undefined,
  signal: NodeJS.Signals,
  graceMs: number,
): Promise<boolean> {
  if (!processAlive(pid)) return false;
  process.kill(pid!, signal);
  for (let waited = 0; waited < graceMs && processAlive(pid); waited += 100) await sleep(100);
  if (processAlive(pid)) process.kill(pid!, 'SIGKILL');
  return true;
}
