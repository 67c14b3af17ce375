import pg from 'pg';
import { formatLsn, parseLsn } from '../../../core/lsn/index.js';
import type { CaseLake } from './lake-view.js';

export interface AckSample {
  readonly atMs: number;
  /** The slot's confirmed_flush_lsn. */
  readonly confirmed: bigint;
  /** Each table's committed LSN in the manifest, read after the slot. */
  readonly committed: ReadonlyMap<string, bigint>;
}

/**
 * Watches the one promise the acknowledgement makes: the slot is never confirmed past what the lake holds. While a
 * case runs it samples the slot's confirmed_flush_lsn C and then the manifest's committed LSN L of every table (in
 * that order: the lake only moves forward, so a later read can only make L larger). After the run, each table's
 * changelog gives the commit LSN of every transaction that touched it; a sample is broken when one of them lies in
 * (L, C): the server would not send that transaction again (it re-sends commits at or after C), and the lake did
 * not have it.
 */
export class AckWatch {
  private readonly samples: AckSample[] = [];
  private failedReads = 0;
  private running = true;
  private readonly loop: Promise<void>;

  constructor(
    private readonly sourceUrl: string,
    private readonly slot: string,
    private readonly lake: CaseLake,
    private readonly tables: readonly string[],
    private readonly intervalMs = 500,
  ) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const started = Date.now();
    while (this.running) {
      try {
        const sample = await this.sample(Date.now() - started);
        if (sample) this.samples.push(sample);
      } catch {
        // The source restarting, the lake mid-write: the next sample reads again.
        this.failedReads += 1;
      }
      await new Promise((resolve) => setTimeout(resolve, this.intervalMs));
    }
  }

  private async sample(atMs: number): Promise<AckSample | undefined> {
    const client = new pg.Client({ connectionString: this.sourceUrl, connectionTimeoutMillis: 2000 });
    let confirmed: string | null | undefined;
    await client.connect();
    try {
      const { rows } = await client.query<{ lsn: string | null }>(
        'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
        [this.slot],
      );
      confirmed = rows[0]?.lsn;
    } finally {
      await client.end().catch(() => undefined);
    }
    if (!confirmed) return undefined;
    const manifest = await this.lake.manifest();
    const committed = new Map<string, bigint>();
    for (const table of this.tables) {
      const entry = manifest?.tables[table];
      if (!entry) return undefined;
      committed.set(table, parseLsn(entry.committed_lsn));
    }
    return { atMs, confirmed: parseLsn(confirmed), committed };
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** How many samples were taken, and how many reads failed (while a server was down). */
  get counts(): { samples: number; failedReads: number } {
    return { samples: this.samples.length, failedReads: this.failedReads };
  }

  /**
   * The samples that broke the promise, described, given every commit LSN each table's changelog holds. An empty
   * list with no samples at all proves nothing, so the caller checks `counts` too.
   */
  violations(commitLsns: ReadonlyMap<string, readonly bigint[]>): string[] {
    return ackViolations(this.samples, commitLsns);
  }
}

/**
 * The samples in which the slot was confirmed past a transaction the lake did not hold: a commit LSN of a table's
 * changelog above the table's committed LSN and below the confirmed position.
 */
export function ackViolations(
  samples: readonly AckSample[],
  commitLsns: ReadonlyMap<string, readonly bigint[]>,
): string[] {
  const found: string[] = [];
  for (const sample of samples) {
    for (const [table, committed] of sample.committed) {
      const missing = (commitLsns.get(table) ?? []).find((lsn) => lsn > committed && lsn < sample.confirmed);
      if (missing !== undefined) {
        found.push(
          `at ${(sample.atMs / 1000).toFixed(1)} s the slot was confirmed at ${formatLsn(sample.confirmed)}, but ` +
            `${table} held only up to ${formatLsn(committed)}, without the transaction committed at ${formatLsn(missing)}`,
        );
      }
    }
  }
  return found;
}
