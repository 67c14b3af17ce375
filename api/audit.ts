import type { Logger } from '../core/log/index.js';
import type { AuditEntry, AuditSummaryWire } from './schemas/console.js';

/**
 * The serve process's own access record: who asked what, through which door, about which tables, and how it
 * ended. Every entry is also logged (`audit: true`) so it outlives the process; the in-memory ring keeps the most
 * recent ones for /v1/audit/summary and /v1/stream/audit.
 */
export type AuditListener = (entry: AuditEntry) => void;

const DEFAULT_CAPACITY = 10_000;

export class AuditLog {
  private readonly entries: AuditEntry[] = [];
  private readonly listeners = new Set<AuditListener>();
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly log: Logger,
    private readonly capacity = DEFAULT_CAPACITY,
  ) {}

  record(entry: AuditEntry): void {
    this.entries.push(entry);
    if (this.entries.length > this.capacity) this.entries.splice(0, this.entries.length - this.capacity);
    this.log.info({ audit: true, ...entry }, 'access');
    for (const listener of this.listeners) listener(entry);
  }

  subscribe(listener: AuditListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Counts over the retained entries the filter lets through (the caller's visible tables), newest last. */
  summary(include: (entry: AuditEntry) => boolean, recent = 20): AuditSummaryWire {
    const shown = this.entries.filter(include);
    const byPrincipal = new Map<string, { requests: number; errors: number; rows: number }>();
    const byAction = new Map<string, { requests: number; errors: number }>();
    const byTable = new Map<string, number>();
    let errors = 0;
    for (const entry of shown) {
      const failed = entry.outcome === 'error' ? 1 : 0;
      errors += failed;
      const p = byPrincipal.get(entry.principal) ?? { requests: 0, errors: 0, rows: 0 };
      byPrincipal.set(entry.principal, {
        requests: p.requests + 1,
        errors: p.errors + failed,
        rows: p.rows + (entry.rows ?? 0),
      });
      const a = byAction.get(entry.action) ?? { requests: 0, errors: 0 };
      byAction.set(entry.action, { requests: a.requests + 1, errors: a.errors + failed });
      for (const table of entry.tables) byTable.set(table, (byTable.get(table) ?? 0) + 1);
    }
    const sorted = <V>(map: Map<string, V>) => [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return {
      since: this.entries[0]?.at ?? this.startedAt,
      total: shown.length,
      errors,
      by_principal: sorted(byPrincipal).map(([principal, v]) => ({ principal, ...v })),
      by_action: sorted(byAction).map(([action, v]) => ({ action, ...v })),
      by_table: sorted(byTable).map(([table, requests]) => ({ table, requests })),
      recent: shown.slice(-recent),
    };
  }
}
