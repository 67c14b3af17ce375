import type pg from 'pg';
import type { Logger } from '../core/log/index.js';
import { connectSource, type SourceSettings } from '../source/connection.js';
import { readSlotPosition } from '../source/slot-position.js';
import type { StreamMetrics } from './metrics.js';

const REFRESH_MS = 5_000;

/**
 * A plain (non-replication) connection beside the stream: emits heartbeat messages so an idle slot keeps
 * advancing, and reads the slot's lag and retained WAL for the guardrail. Failures here are logged, never fatal:
 * the stream itself is what must not stop.
 */
export class SourceProbe {
  private client: Promise<pg.Client> | undefined;
  private lastRefresh = 0;
  private busy = false;

  constructor(
    private readonly source: SourceSettings,
    private readonly slot: string,
    private readonly log: Logger,
  ) {}

  emitHeartbeat(prefix: string): void {
    void this.use(async (client) => {
      await client.query('SELECT pg_logical_emit_message(false, $1, $2)', [prefix, new Date().toISOString()]);
    });
  }

  refresh(metrics: StreamMetrics, maxRetainedBytes: number): void {
    const now = Date.now();
    if (this.busy || now - this.lastRefresh < REFRESH_MS) return;
    this.lastRefresh = now;
    this.busy = true;
    void this.use(async (client) => {
      const { walEnd, slot } = await readSlotPosition(client, this.slot);
      if (!slot) return;
      metrics.currentWalLsn = walEnd ?? undefined;
      metrics.retainedWalBytes = slot.retainedBytes ?? undefined;
      metrics.lagBytes = slot.lagBytes ?? undefined;
      const exceeded = maxRetainedBytes > 0 && (metrics.retainedWalBytes ?? 0) > maxRetainedBytes;
      if (exceeded && !metrics.guardrailExceeded) {
        this.log.warn(
          { slot: this.slot, retainedWalBytes: metrics.retainedWalBytes, max: maxRetainedBytes },
          'the slot retains more WAL than guardrail.max_retained_wal_bytes: epochs are not committing fast enough, or the stream was stopped for long',
        );
      }
      metrics.guardrailExceeded = exceeded;
    }).finally(() => {
      this.busy = false;
    });
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.then((c) => c.end()).catch(() => undefined);
  }

  private async use(fn: (client: pg.Client) => Promise<void>): Promise<void> {
    try {
      this.client ??= connectSource(this.source, { log: this.log });
      await fn(await this.client);
    } catch (error) {
      this.log.warn({ err: error }, 'source probe failed; will retry');
      const client = this.client;
      this.client = undefined;
      await client?.then((c) => c.end()).catch(() => undefined);
    }
  }
}
