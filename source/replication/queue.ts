/**
 * A bounded queue between the socket and the consumer's `for await`. The socket side pushes synchronously; at
 * `highWater` items it asks the producer to pause, and once the consumer has taken the queue down to `lowWater` it
 * asks it to resume. A socket read already in progress still lands, so the bound is soft by one read's worth.
 */
export interface FlowControl {
  pause(): void;
  resume(): void;
}

export interface QueueStats {
  readonly pausedMs: number;
  readonly paused: boolean;
}

export class BoundedQueue<T> implements AsyncIterator<T, undefined> {
  private items: T[] = [];
  private head = 0;
  private waiter: { resolve: (r: IteratorResult<T, undefined>) => void; reject: (e: unknown) => void } | undefined;
  private failure: Error | undefined;
  private ended = false;
  private pausedSince: number | undefined;
  private pausedTotal = 0;
  private readonly lowWater: number;

  constructor(
    private readonly highWater: number,
    private readonly flow: FlowControl,
  ) {
    this.lowWater = Math.floor(highWater / 2);
  }

  get length(): number {
    return this.items.length - this.head;
  }

  get stats(): QueueStats {
    const open = this.pausedSince === undefined ? 0 : performance.now() - this.pausedSince;
    return { pausedMs: this.pausedTotal + open, paused: this.pausedSince !== undefined };
  }

  push(item: T): void {
    if (this.ended) return;
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      waiter.resolve({ value: item, done: false });
      return;
    }
    this.items.push(item);
    if (this.pausedSince === undefined && this.length >= this.highWater) {
      this.pausedSince = performance.now();
      this.flow.pause();
    }
  }

  /** No more items; the consumer still receives those already queued, then `error` if one is given. */
  end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = error;
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) {
      if (error === undefined) waiter.resolve({ value: undefined, done: true });
      else waiter.reject(error);
    }
  }

  /** Drop whatever is queued: the consumer stopped reading. */
  clear(): void {
    this.items = [];
    this.head = 0;
  }

  /** The next queued item without waiting, or undefined when none is queued (then `next()` waits or ends). */
  poll(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.items[this.head++] = undefined as T;
    this.compact();
    return item;
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.head < this.items.length) return Promise.resolve({ value: this.poll()!, done: false });
    if (this.ended) return this.failure === undefined ? Promise.resolve(DONE) : Promise.reject(this.failure);
    if (this.waiter) return Promise.reject(new Error('the replication stream is read by one consumer at a time'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  private compact(): void {
    const remaining = this.items.length - this.head;
    if (remaining === 0) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 4096 && this.head > remaining) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (this.pausedSince !== undefined && remaining <= this.lowWater && !this.ended) {
      this.pausedTotal += performance.now() - this.pausedSince;
      this.pausedSince = undefined;
      this.flow.resume();
    }
  }
}

const DONE: IteratorResult<never, undefined> = Object.freeze({ value: undefined, done: true });
