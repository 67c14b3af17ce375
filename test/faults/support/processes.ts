import { spawn } from 'node:child_process';
import { PG_CDC_BIN } from '../../support/cli.js';
import { startStream, type RunningStream } from '../../support/stream.js';

/** The error code a pg-cdc process ended with (`pg-cdc: CODE: message`), else the last one it logged. */
export function lastErrorCode(logs: string): string | undefined {
  const printed = [...logs.matchAll(/^pg-cdc: ([A-Z][A-Z_]+):/gm)].map((m) => m[1]!);
  const logged = [...logs.matchAll(/"code":"([A-Z][A-Z_]+)"/g)].map((m) => m[1]!);
  return printed.at(-1) ?? logged.at(-1);
}

/** The pg-cdc processes of a case, each restartable: `pg-cdc start`, and a separate `pg-cdc worker` if asked for. */
export class CaseProcesses {
  private current: RunningStream | undefined;
  private worker: RunningStream | undefined;
  /** The logs of every process that ended, for a failure's message. */
  private readonly ended: string[] = [];

  constructor(
    private readonly configPath: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  async startStream(): Promise<void> {
    this.current = startStream(this.configPath, this.env);
    await this.current.waitForLog(/"msg":"streaming"/, 180_000);
  }

  get stream(): RunningStream {
    if (!this.current) throw new Error('pg-cdc start is not running');
    return this.current;
  }

  /** Whether `pg-cdc start` is still running; if it exited, how (with the error code it logged). */
  streamExit(): string | undefined {
    const child = this.current?.child;
    if (!child || (child.exitCode === null && child.signalCode === null)) return undefined;
    const code = lastErrorCode(this.current!.logs());
    return `exited ${child.exitCode ?? child.signalCode}${code ? ` (${code})` : ''}`;
  }

  /** How often the running `pg-cdc start` has logged a line matching `pattern`. */
  streamLogCount(pattern: RegExp): number {
    return this.current?.logs().match(new RegExp(pattern.source, 'g'))?.length ?? 0;
  }

  async killStream(): Promise<void> {
    if (!this.current) return;
    await this.current.stop('SIGKILL');
    this.ended.push(this.current.logs());
    this.current = undefined;
  }

  /**
   * After a fault: `rode it out` when `pg-cdc start` is still running, else how it ended, and it is started again.
   */
  async ensureStreaming(): Promise<string> {
    const exit = this.streamExit();
    if (!exit) return 'pg-cdc start rode it out';
    this.ended.push(this.current!.logs());
    await this.startStream();
    return `pg-cdc start ${exit}; restarted, streaming again`;
  }

  /** A separate `pg-cdc worker` on the same task queues (the shared one and this host's). */
  async startWorker(): Promise<void> {
    const child = spawn(process.execPath, [PG_CDC_BIN, '--config', this.configPath, 'worker'], {
      env: { ...process.env, PGCDC_LOG_LEVEL: 'info', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.worker = wrap(child, 'pg-cdc worker');
    await this.worker.waitForLog(/"msg":"worker running"/, 120_000);
  }

  async killWorker(): Promise<void> {
    if (!this.worker) return;
    await this.worker.stop('SIGKILL');
    this.ended.push(this.worker.logs());
    this.worker = undefined;
  }

  /** SIGTERM to what still runs; resolves with `pg-cdc start`'s exit code. */
  async stopAll(): Promise<number | null | undefined> {
    const worker = this.worker?.stop('SIGTERM', 60_000);
    const code = await this.current?.stop('SIGTERM');
    await worker;
    return code;
  }

  async killAll(): Promise<void> {
    await Promise.all([this.current?.stop('SIGKILL'), this.worker?.stop('SIGKILL')]);
  }

  /** Every process's log, the running ones last. */
  allLogs(): string {
    return [...this.ended, this.worker?.logs() ?? '', this.current?.logs() ?? ''].join('\n----\n');
  }

  /** The tail of every process's log, for a failure's message. */
  logTail(chars = 6000): string {
    return this.allLogs().slice(-chars);
  }
}

/** A `RunningStream`-shaped handle on any pg-cdc child process. */
function wrap(child: ReturnType<typeof spawn>, name: string): RunningStream {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ? 128 : code)),
  );
  return {
    child,
    logs: () => output,
    exited,
    async waitForLog(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(output)) {
        if (child.exitCode !== null)
          throw new Error(`${name} exited (${child.exitCode}) before ${pattern}:\n${output}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${output.slice(-4000)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async stop(signal = 'SIGTERM', timeoutMs = 120_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
