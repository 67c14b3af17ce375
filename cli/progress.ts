import type { Logger } from '../core/log/index.js';

export interface ProgressItem {
  readonly label: string;
  readonly done: number;
  /** Best estimate of the total; the bar caps at 99% until `finished`. */
  readonly total: number;
  readonly finished: boolean;
  readonly detail?: string;
}

const compact = (n: number): string =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(1)}k` : String(Math.round(n));

const duration = (seconds: number): string =>
  !Number.isFinite(seconds)
    ? '?'
    : seconds >= 90
      ? `${Math.round(seconds / 60)}m`
      : `${Math.max(0, Math.round(seconds))}s`;

/**
 * Progress of long work, by item: bars redrawn in place on a terminal, a structured log line every few seconds
 * elsewhere (CI logs, pipes). Rates are measured between updates, per item.
 */
export class ProgressDisplay {
  private readonly started = new Map<string, { at: number; done: number }>();
  private drawnLines = 0;
  private lastLog = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly log: Logger,
    private readonly unit = 'rows',
    private readonly logEveryMs = 5000,
    private readonly redrawEveryMs = 500,
  ) {}

  /**
   * How long until an update would show anything new: a redraw on a terminal, the next log line elsewhere. Never
   * less than the redraw interval, so an update that brought nothing to show is not retried in a tight loop.
   */
  nextUpdateInMs(now = Date.now()): number {
    if (this.out.isTTY) return this.redrawEveryMs;
    return Math.max(this.redrawEveryMs, this.lastLog + this.logEveryMs - now);
  }

  update(items: readonly ProgressItem[], now = Date.now()): void {
    const lines = items.map((item) => this.describe(item, now));
    if (this.out.isTTY) {
      if (this.drawnLines > 0) this.out.write(`\x1b[${this.drawnLines}A`);
      for (const line of lines) this.out.write(`\x1b[2K${line.text}\n`);
      this.drawnLines = lines.length;
    } else if (now - this.lastLog >= this.logEveryMs) {
      this.lastLog = now;
      for (const line of lines) this.log.info(line.fields, 'progress');
    }
  }

  private describe(item: ProgressItem, now: number): { text: string; fields: Record<string, unknown> } {
    const start = this.started.get(item.label) ?? { at: now, done: item.done };
    if (!this.started.has(item.label)) this.started.set(item.label, start);
    const seconds = (now - start.at) / 1000;
    const rate = seconds > 0 ? (item.done - start.done) / seconds : 0;
    const total = Math.max(item.total, item.done);
    const fraction = item.finished ? 1 : total > 0 ? Math.min(0.99, item.done / total) : 0;
    const eta = item.finished ? 0 : rate > 0 ? (total - item.done) / rate : Number.POSITIVE_INFINITY;
    const width = 24;
    const filled = Math.round(fraction * width);
    const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
    const text =
      `${item.label.padEnd(28)} [${bar}] ${String(Math.round(fraction * 100)).padStart(3)}% ` +
      `${compact(item.done)}/${compact(total)} ${this.unit}  ${compact(rate)} ${this.unit}/s  ` +
      `${item.finished ? 'done' : `ETA ${duration(eta)}`}${item.detail ? `  ${item.detail}` : ''}`;
    return {
      text,
      fields: {
        item: item.label,
        done: item.done,
        total,
        ratePerSec: Math.round(rate),
        etaSec: Number.isFinite(eta) ? Math.round(eta) : null,
        finished: item.finished,
      },
    };
  }
}
