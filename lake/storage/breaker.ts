import { PgCdcError } from '../../core/errors/index.js';
import { breakersTripped, breakerTrips } from '../../core/metrics/index.js';

export interface ConflictBreakerOptions {
  /** Conflicts within the window that trip the breaker (10 by default). */
  readonly maxConflicts: number;
  /** The window, in milliseconds (60 s by default). */
  readonly windowMs: number;
}

export const DEFAULT_CONFLICT_BREAKER: ConflictBreakerOptions = { maxConflicts: 10, windowMs: 60_000 };

/** The breaker tripped: this process stopped writing to the lake. */
export class WriterStoppedError extends PgCdcError {
  constructor(lake: string, conflicts: number, windowMs: number, key?: string) {
    super(
      'STORAGE_WRITER_STOPPED',
      `${conflicts} commit conflicts within ${windowMs / 1000} s on ${lake}: this writer stopped writing to the lake`,
      {
        hint:
          'two pg-cdc processes are committing to the same lake (two `start`s on one slot, or two slots on one prefix): ' +
          'stop the other one, then restart this one',
        context: { lake, conflicts, window_ms: windowMs, ...(key === undefined ? {} : { key }) },
      },
    );
  }
}

/**
 * The dual-writer circuit breaker. One writer per table never loses a compare-and-swap more than now and then (a
 * retried commit finding its own version); a storm of lost ones means a second writer is racing this one. Past
 * `maxConflicts` within `windowMs` the breaker trips for good: every later write is refused with a typed error, so
 * the two writers stop burning requests against each other and someone looks.
 */
export class ConflictBreaker {
  private readonly times: number[] = [];
  private trippedAt: number | undefined;

  constructor(
    private readonly lake: string,
    private readonly options: ConflictBreakerOptions = DEFAULT_CONFLICT_BREAKER,
    private readonly onTrip: (error: WriterStoppedError) => void = () => undefined,
  ) {}

  get tripped(): boolean {
    return this.trippedAt !== undefined;
  }

  /** Throws once tripped: called before every write. */
  check(key?: string): void {
    if (this.tripped) throw new WriterStoppedError(this.lake, this.options.maxConflicts, this.options.windowMs, key);
  }

  /** A conditional write lost; trips (and throws) when that makes too many within the window. */
  conflict(key: string, now = Date.now()): void {
    this.times.push(now);
    while (this.times.length > 0 && this.times[0]! <= now - this.options.windowMs) this.times.shift();
    if (this.times.length < this.options.maxConflicts) return;
    this.trippedAt = now;
    breakerTrips.inc();
    breakersTripped.inc();
    const error = new WriterStoppedError(this.lake, this.times.length, this.options.windowMs, key);
    this.onTrip(error);
    throw error;
  }
}
