import { readFileSync } from 'node:fs';

/** Resident set size of a process in bytes (Linux), 0 when it cannot be read (not started yet, or gone). */
export function rssBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(match?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

const MiB = (bytes: number): number => Math.round(bytes / 2 ** 20);

/** Samples a process's RSS every 100 ms and keeps the highest. */
export class RssSampler {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.timer = setInterval(() => (this.peak = Math.max(this.peak, rssBytes(pid))), 100);
  }

  currentMiB(): number {
    return MiB(rssBytes(this.pid));
  }

  peakMiB(): number {
    return MiB(this.peak);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** A `memory` line of pg-cdc's debug log (stream/memory-report.ts), the fields a breakdown needs. */
interface MemoryLine {
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly duckdb?: Record<string, number>;
  readonly spoolBuffers?: number;
  readonly locatorCacheMax?: number;
  readonly limits?: Record<string, number>;
}

/** The `memory` line with the highest RSS in a JSON log, if any. */
export function peakMemoryLine(log: string): MemoryLine | undefined {
  let peak: MemoryLine | undefined;
  for (const text of log.split('\n')) {
    if (!text.includes('"msg":"memory"')) continue;
    try {
      const line = JSON.parse(text) as MemoryLine;
      if (!peak || line.rss > peak.rss) peak = line;
    } catch {
      // a line cut off by the process's end
    }
  }
  return peak;
}

/** `RSS 480 MiB: V8 heap 120 (of 160), buffers 40, DuckDB epochs 210, ...`, in MiB. */
export function describeMemory(line: MemoryLine): string {
  const parts = [
    `V8 heap ${MiB(line.heapUsed)} used of ${MiB(line.heapTotal)}`,
    `external ${MiB(line.external)} (array buffers ${MiB(line.arrayBuffers)})`,
    ...Object.entries(line.duckdb ?? {}).map(([name, bytes]) => `DuckDB ${name} ${MiB(bytes)}`),
    ...(line.spoolBuffers === undefined ? [] : [`spool buffers ${MiB(line.spoolBuffers)}`]),
  ];
  const limits = Object.entries(line.limits ?? {}).map(([name, bytes]) => `${name} ${MiB(bytes)}`);
  return `RSS ${MiB(line.rss)} MiB: ${parts.join(', ')}${limits.length ? `; limits ${limits.join(', ')}` : ''}`;
}
