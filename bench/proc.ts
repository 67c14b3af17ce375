import { execFileSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;
const clockTicks = (): number =>
  (ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100);

/** The fields of /proc/<pid>/stat after the command name (so fields[11] is utime, man 5 proc's field 14). */
const statFields = (pid: number | undefined): string[] =>
  readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');

/**
 * CPU seconds (user + system) of a process, threads included, or of its reaped children (`children`), from
 * /proc/<pid>/stat (Linux); NaN where that cannot be read.
 */
export function cpuSeconds(pid: number | undefined, options: { children?: boolean } = {}): number {
  try {
    const fields = statFields(pid);
    const [user, system] = options.children ? [fields[13], fields[14]] : [fields[11], fields[12]];
    return (Number(user) + Number(system)) / clockTicks();
  } catch {
    return NaN;
  }
}

/** A process's user and system CPU seconds apart (threads included), from /proc/<pid>/stat; NaN where unreadable. */
export function cpuUserSystem(pid: number | undefined): { user: number; system: number } {
  try {
    const fields = statFields(pid);
    return { user: Number(fields[11]) / clockTicks(), system: Number(fields[12]) / clockTicks() };
  } catch {
    return { user: NaN, system: NaN };
  }
}

/**
 * CPU seconds of a process's threads, largest first: the main thread (the event loop) is named `main`, the others
 * (DuckDB, libuv, V8 and the Temporal core, which Node leaves unnamed) by name and thread id. Empty where /proc
 * cannot be read.
 */
export function cpuSecondsByThread(pid: number | undefined): [name: string, seconds: number][] {
  const threads: [string, number][] = [];
  try {
    const taskDir = `/proc/${pid}/task`;
    const ticks = clockTicks();
    for (const tid of readdirSync(taskDir)) {
      try {
        const stat = readFileSync(`${taskDir}/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
        threads.push([
          tid === String(pid) ? 'main' : `${name}/${tid}`,
          (Number(fields[11]) + Number(fields[12])) / ticks,
        ]);
      } catch {
        // the thread ended between the listing and the read
      }
    }
  } catch {
    return [];
  }
  return threads.sort((a, b) => b[1] - a[1]);
}

/**
 * Stops a child the bench started: SIGTERM (its graceful stop), then SIGKILL if it is still there 30 s later. Its
 * exit code (null when a signal ended it).
 */
export async function stopChild(child: ChildProcess | undefined): Promise<number | null> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}
