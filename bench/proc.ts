import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/**
 * CPU seconds (user + system) of a process, threads included, or of its reaped children (`children`), from
 * /proc/<pid>/stat (Linux); NaN where that cannot be read.
 */
export function cpuSeconds(pid: number | undefined, options: { children?: boolean } = {}): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const [user, system] = options.children ? [fields[13], fields[14]] : [fields[11], fields[12]];
    ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    return (Number(user) + Number(system)) / ticksPerSecond;
  } catch {
    return NaN;
  }
}
