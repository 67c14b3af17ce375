import type { Logger } from '../core/log/index.js';
import type { LakeView, ManifestAt } from './service/lake-view.js';

/**
 * Watches pg-cdc's manifest for new versions (every committed epoch makes one) and tells subscribers. One watcher
 * serves every stream of a server; it polls only while someone listens. Polling a manifest costs one small read
 * (the version hint) and a probe, on a filesystem as on S3.
 */
export type ManifestListener = (next: ManifestAt) => void;

export const DEFAULT_POLL_MS = 1_000;

export class ManifestWatcher {
  private readonly listeners = new Set<ManifestListener>();
  private timer: NodeJS.Timeout | undefined;
  private newest: ManifestAt | undefined;
  private polling = false;
  private closed = false;

  constructor(
    private readonly lake: LakeView,
    private readonly log: Logger,
    private readonly intervalMs = DEFAULT_POLL_MS,
  ) {}

  /** The newest version seen so far (undefined before the first look or while the lake is empty). */
  get latestVersion(): number | undefined {
    return this.newest?.version;
  }

  subscribe(listener: ManifestListener): () => void {
    this.listeners.add(listener);
    this.schedule(0);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
    };
  }

  /** Looks now (and remembers what it saw), whether or not anyone subscribed. */
  async check(): Promise<ManifestAt | undefined> {
    const latest = await this.lake.latest();
    if (latest && latest.version !== this.newest?.version) {
      this.newest = latest;
      for (const listener of this.listeners) listener(latest);
    }
    return latest;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }

  private schedule(delay: number): void {
    if (this.closed || this.timer || this.polling || this.listeners.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.polling = true;
      this.check()
        .catch((error: unknown) => this.log.warn({ err: error }, 'reading the manifest failed; retrying'))
        .finally(() => {
          this.polling = false;
          this.schedule(this.intervalMs);
        });
    }, delay);
    this.timer.unref();
  }
}
