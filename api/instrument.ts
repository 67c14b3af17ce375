import { isPgCdcError } from '../core/errors/index.js';
import type { Logger } from '../core/log/index.js';
import type { AuditLog } from './audit.js';
import type { ServeMetrics } from './metrics.js';

/**
 * One wrapper around every request either front door serves: it times the work, counts it, writes the audit
 * entry and logs failures. Errors we did not raise on purpose are logged in full here (under the request id the
 * client is shown), because the client only ever sees a generic INTERNAL.
 */
export interface Tracked<T> {
  readonly door: 'mcp' | 'http';
  readonly action: string;
  readonly principal: string;
  readonly requestId: string;
  readonly tables: readonly string[];
  /** Rows handed to the caller, for results that carry rows. */
  readonly rows?: (result: T) => number;
  /** Tables known only from the result (an SQL query's): added to `tables` in the audit entry. */
  readonly resultTables?: (result: T) => readonly string[];
}

export class Instrumentation {
  constructor(
    readonly audit: AuditLog,
    readonly metrics: ServeMetrics,
    readonly log: Logger,
  ) {}

  async track<T>(request: Tracked<T>, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let outcome: 'ok' | 'error' = 'ok';
    let code: string | null = null;
    let rows: number | null = null;
    const tables = new Set(request.tables);
    try {
      const result = await work();
      rows = request.rows ? request.rows(result) : null;
      for (const table of request.resultTables?.(result) ?? []) tables.add(table);
      return result;
    } catch (error) {
      outcome = 'error';
      code = isPgCdcError(error) ? error.code : 'INTERNAL';
      this.logFailure(request, error);
      throw error;
    } finally {
      const elapsed = performance.now() - started;
      const { door, action } = request;
      this.metrics.requests.inc({ door, action, outcome });
      this.metrics.duration.observe({ door, action }, elapsed / 1000);
      if (rows !== null) this.metrics.rows.inc({ door }, rows);
      this.audit.record({
        at: new Date().toISOString(),
        principal: request.principal,
        via: door,
        action,
        tables: [...tables],
        outcome,
        code,
        rows,
        elapsed_ms: Math.round(elapsed * 10) / 10,
      });
    }
  }

  logFailure(request: { door: string; action: string; principal: string; requestId: string }, error: unknown): void {
    const where = {
      door: request.door,
      action: request.action,
      principal: request.principal,
      reqId: request.requestId,
    };
    if (isPgCdcError(error)) this.log.debug({ ...where, code: error.code, message: error.message }, 'request refused');
    else this.log.error({ ...where, err: error }, 'request failed');
  }
}
