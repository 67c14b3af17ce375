import type { EpochCommit } from '../lake/state/types.js';
import type { EpochSink } from './committer.js';
import type { TableRoute } from './routes.js';
import type { SealedEpoch } from './spool.js';

/**
 * A sink whose target arrives later: `pg-cdc start` reads the WAL while its Temporal side (the heaviest modules,
 * the workers, the table actors) is still coming up. An epoch sealed before then waits for the target; if the
 * target never comes, every waiting and later hand-over fails with the reason.
 */
export class DeferredSink implements EpochSink {
  private readonly target: Promise<EpochSink>;
  private attachTarget!: (sink: EpochSink) => void;
  private failTarget!: (reason: unknown) => void;

  constructor() {
    this.target = new Promise<EpochSink>((resolve, reject) => {
      this.attachTarget = resolve;
      this.failTarget = reject;
    });
    // Nothing may be waiting yet when the target fails; the reason is reported by whoever called `fail`.
    this.target.catch(() => undefined);
  }

  attach(sink: EpochSink): void {
    this.attachTarget(sink);
  }

  fail(reason: unknown): void {
    this.failTarget(reason);
  }

  /** Attaches `target` once it resolves, or fails with its reason; the result settles the same way. */
  attachWhen(target: Promise<EpochSink>): Promise<void> {
    return target.then(
      (sink) => this.attach(sink),
      (reason: unknown) => {
        this.fail(reason);
        throw reason;
      },
    );
  }

  async commit(route: TableRoute, sealed: SealedEpoch): Promise<EpochCommit> {
    return (await this.target).commit(route, sealed);
  }
}
