import { tryParseLsn } from '../core/lsn/index.js';
import type { ResultValue } from '../engine/types.js';
import type { Logger } from '../core/log/index.js';
import type { QueryWire } from './schemas/outputs.js';
import type { ServeService } from './service/index.js';
import type { ManifestAt } from './service/lake-view.js';
import type { ManifestWatcher } from './watch.js';

/**
 * The change feed behind /v1/stream/events: each new manifest version is a set of committed epochs; for every
 * table whose epoch moved and that the caller may see, the new changelog rows are read through the governed
 * engine (so hidden columns stay hidden) and sent, then one `commit` event whose id is the manifest version.
 * A client that reconnects with Last-Event-ID: <version> gets everything committed after it (at least once:
 * `_commit_lsn` and `_seq` identify a change).
 */
export interface ChangeEvent {
  readonly table: string;
  readonly manifest_version: number;
  readonly row: Record<string, ResultValue>;
}

export interface CommitEvent {
  readonly manifest_version: number;
  readonly updated_at: string;
  readonly tables: { readonly table: string; readonly epoch: number; readonly changes: number }[];
}

export interface GapEvent {
  readonly table: string;
  readonly since_epoch: number;
  readonly message: string;
}

export interface ChangeSink {
  change(event: ChangeEvent): void;
  commit(event: CommitEvent, id: string): void;
  gap(event: GapEvent): void;
}

/** A commit LSN as the changelog holds it (a BIGINT, its decimal text, or `X/Y` text) or as the manifest writes it. */
function lsnValue(value: ResultValue | undefined): bigint | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value !== 'string') return undefined;
  if (/^\d+$/.test(value)) return BigInt(value);
  return tryParseLsn(value);
}

export class ChangeFeed {
  private cursor: ManifestAt | undefined;
  private queue: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly service: ServeService,
    private readonly watcher: ManifestWatcher,
    private readonly principal: string,
    private readonly sink: ChangeSink,
    private readonly log: Logger,
  ) {}

  /**
   * Starts after `fromVersion` (a Last-Event-ID) or, without one, at the newest version now; returns the version
   * the feed starts after (undefined for an empty lake, or a `fromVersion` compaction pruned: everything is new).
   */
  async start(fromVersion?: number): Promise<number | undefined> {
    const latest = await this.service.lake.latest();
    this.cursor = latest;
    if (fromVersion !== undefined && latest && fromVersion < latest.version) {
      // A pruned version no longer says how far each table had come: the changelog is sent again from its start,
      // which keeps the feed's promise (everything after the client's version, at least once).
      const pruned = fromVersion < (await this.service.lake.oldestVersion());
      this.cursor = pruned ? undefined : await this.service.lake.version(Math.max(1, fromVersion), latest);
    }
    if (latest && (this.cursor?.version ?? 0) < latest.version) this.enqueue(latest);
    this.unsubscribe = this.watcher.subscribe((next) => this.enqueue(next));
    return this.cursor?.version;
  }

  stop(): void {
    this.unsubscribe?.();
  }

  /** Versions are handled one at a time, in order, so a slow read never reorders the feed. */
  private enqueue(next: ManifestAt): void {
    this.queue = this.queue
      .then(() => this.advance(next))
      .catch((error: unknown) => this.log.warn({ err: error, principal: this.principal }, 'change feed step failed'));
  }

  private async advance(next: ManifestAt): Promise<void> {
    const previous = this.cursor;
    if (previous && next.version <= previous.version) return;
    const visible = await this.service.visibleTables(this.principal);
    const tables: CommitEvent['tables'] = [];
    for (const [table, entry] of Object.entries(next.manifest.tables).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const before = previous?.manifest.tables[table]?.epoch ?? 0;
      if (!visible.has(table) || entry.epoch <= before || !entry.changes) continue;
      const result = await this.service.changes(this.principal, { table, since_epoch: before });
      const upTo = lsnValue(entry.committed_lsn);
      const sent = this.send(table, next.version, result, upTo);
      if (result.truncated) {
        this.sink.gap({
          table,
          since_epoch: before,
          message: `more changes than one read returns (serve.query.row_limit): read the rest with get_changes from epoch ${before}`,
        });
      }
      tables.push({ table, epoch: entry.epoch, changes: sent });
    }
    this.cursor = next;
    this.sink.commit(
      { manifest_version: next.version, updated_at: next.manifest.updated_at, tables },
      String(next.version),
    );
  }

  /** Rows committed after this version (a later epoch already landed) wait for their own version. */
  private send(table: string, version: number, result: QueryWire, upTo: bigint | undefined): number {
    const names = result.columns.map((c) => c.name);
    const lsnIndex = names.indexOf('_commit_lsn');
    let sent = 0;
    for (const values of result.rows) {
      const lsn = lsnIndex < 0 ? undefined : lsnValue(values[lsnIndex]);
      if (upTo !== undefined && lsn !== undefined && lsn > upTo) continue;
      const row: Record<string, ResultValue> = {};
      names.forEach((name, i) => (row[name] = values[i] ?? null));
      this.sink.change({ table, manifest_version: version, row });
      sent++;
    }
    return sent;
  }
}
