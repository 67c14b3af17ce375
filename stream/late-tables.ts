import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { PgCdcConfig } from '../core/config/index.js';
import { PgCdcError } from '../core/errors/index.js';
import type { Logger } from '../core/log/index.js';
import { formatLsn, parseLsn, ZERO_LSN, type Lsn } from '../core/lsn/index.js';
import { qualifiedName, selectTables } from '../core/selection/index.js';
import { shapeFromLake } from '../core/types/evolution.js';
import { lastColumnId } from '../core/types/iceberg.js';
import { planTable } from '../core/types/index.js';
import { parseSnapshotXids } from '../core/xid/index.js';
import { assertPublishable } from '../governance/publishable.js';
import type { Catalog } from '../lake/catalog/index.js';
import { changelogIdentifier, tableLocation } from '../lake/contract/index.js';
import { loadTableMetadata } from '../lake/iceberg/table.js';
import type { ManifestStore } from '../lake/manifest.js';
import type { ObjectStore } from '../lake/storage/index.js';
import { recordDroppedInManifest } from '../lake/state/manifest-entry.js';
import { listTables, type CatalogTable } from '../source/catalog.js';
import { readTableColumns } from '../source/columns.js';
import { connectSource, describeTarget, type SourceSettings } from '../source/connection.js';
import { addTableToPublication, exportTableSnapshot, waitForOlderTransactions } from '../source/snapshot/late.js';
import type { SnapshotTableInput, SnapshotTableResult } from '../workflows/snapshot-table.js';
import { routeColumns, type TableRoute } from './routes.js';
import { spoolRoot, type TableStart } from './setup.js';
import { SnapshotGate } from './snapshot-gate.js';
import { bindFreshSpool, saveCommittedShape } from './spool-files.js';
import { TableSpool } from './spool.js';

/** What the Temporal side does for a table that joins: its snapshot workflow, then its actor and schedule. */
export interface TableOnboarding {
  snapshotTable(input: SnapshotTableInput): Promise<SnapshotTableResult>;
  startTable(table: TableStart): Promise<void>;
}

export class LateTableError extends PgCdcError {
  constructor(table: string, cause: unknown) {
    super('LATE_TABLE_FAILED', `${table} joined the stream but could not be snapshotted`, {
      context: { table },
      cause,
      hint: 'the cause says why; the table is tried again at the next check (replication.table_check_interval_sec), and the other tables keep streaming',
    });
  }
}

export interface LateTablesOptions {
  readonly config: PgCdcConfig;
  readonly source: SourceSettings;
  readonly routes: Map<string, TableRoute>;
  readonly lake: { readonly store: ObjectStore; readonly catalog: Catalog; readonly manifest: ManifestStore };
  readonly onboarding: Promise<TableOnboarding>;
  readonly log: Logger;
  /** The route of a table was added or removed: the assembler looks it up again. */
  readonly routeChanged: (name: string) => void;
  /** How far the stream has read. */
  readonly readPosition: () => Lsn;
}

/**
 * Tables that join or leave while `pg-cdc start` streams (docs/streaming.md, "Tables that join while streaming").
 * Every `replication.table_check_interval_sec`, and at once when a published table the stream does not carry
 * describes itself, the source catalog is read and the selection applied:
 *
 * - a selected table without a route gets one (its changes are spooled from now), is added to the publication,
 *   and once every transaction older than that has ended, is copied under a snapshot this process exports and
 *   holds (`snapshot-table:<table>`); its actor and compaction schedule start, and its epochs follow the base;
 * - a routed table gone from the catalog is marked dropped in the manifest, once the stream has read past the
 *   drop and every change of it is committed.
 */
export class LateTables {
  private readonly joining = new Set<string>();
  /** Dropped tables waiting for the stream to pass the LSN at which they were seen gone. */
  private readonly dropping = new Map<string, Lsn>();
  /** Tables refused (strict mode without tags, a table of a dropped one's name): logged once. */
  private readonly refused = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly options: LateTablesOptions) {}

  start(): void {
    const interval = this.options.config.replication.table_check_interval_sec * 1000;
    if (interval <= 0) return;
    this.timer = setInterval(() => this.checkSoon(), interval);
    this.timer.unref();
    // Tables created or dropped while `start` was down are found now, not an interval later.
    this.checkSoon();
  }

  /** Stops checking; a snapshot under way ends with the process (its table is snapshotted again next start). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** A published relation without a route was read: check the catalog now rather than at the next interval. */
  unroutedRelation(schema: string, name: string): void {
    const table = `${schema}.${name}`;
    if (this.joining.has(table) || this.refused.has(table)) return;
    this.checkSoon();
  }

  /** Runs a check unless one runs (then one more follows it). */
  checkSoon(): void {
    if (this.stopped) return;
    if (this.checking) {
      this.again = true;
      return;
    }
    this.checking = this.check()
      .catch((error: unknown) =>
        this.options.log.warn({ err: error }, 'checking the source for new or dropped tables failed'),
      )
      .finally(() => {
        this.checking = undefined;
        if (this.again) {
          this.again = false;
          this.checkSoon();
        }
      });
  }

  private async check(): Promise<void> {
    const { config, source, routes, log } = this.options;
    const client = await connectSource(source, { log });
    let found: CatalogTable[];
    let seenAt: Lsn;
    try {
      found = await listTables(client);
      const { rows } = await client.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
      seenAt = parseLsn(rows[0]!.lsn);
    } finally {
      await client.end().catch(() => undefined);
    }
    const selection = selectTables(found, { ...config.tables, schemas: source.schemas });
    const manifest = (await this.options.lake.manifest.read())?.value.tables ?? {};
    for (const decision of selection.selected) {
      const table = qualifiedName(decision.table);
      if (routes.has(table) || this.joining.has(table) || this.refused.has(table)) continue;
      if (manifest[table]?.dropped_at !== undefined) {
        this.refuse(
          table,
          'a table of this name was dropped and is kept in the lake; a new one of the same name is not streamed',
        );
        continue;
      }
      if (!(await this.publishable(table))) continue;
      this.joining.add(table);
      void this.join(decision.table).finally(() => this.joining.delete(table));
    }
    const present = new Set(found.map((t) => qualifiedName(t)));
    for (const [name, route] of routes) {
      if (present.has(name) || (route.gate !== undefined && !route.gate.ready)) continue;
      if (!this.dropping.has(name)) this.dropping.set(name, seenAt);
    }
    await this.settleDrops();
  }

  /** Strict mode: an untagged table is refused like at `init`, and logged once. */
  private async publishable(table: string): Promise<boolean> {
    try {
      await assertPublishable(this.options.config, [table], {
        database: describeTarget(this.options.source.url ?? '').database,
      });
      return true;
    } catch (error) {
      this.refuse(table, error instanceof Error ? error.message : String(error));
      return false;
    }
  }

  private refuse(table: string, reason: string): void {
    this.refused.add(table);
    this.options.log.warn({ table, reason }, 'a new table in the selection is not streamed');
  }

  /** Marks dropped the tables the stream has read past, once nothing of theirs waits for the lake. */
  private async settleDrops(): Promise<void> {
    const { routes, lake, log } = this.options;
    for (const [name, seenAt] of this.dropping) {
      const route = routes.get(name);
      if (!route) {
        this.dropping.delete(name);
        continue;
      }
      if (this.options.readPosition() < seenAt || route.spool.oldestUncommittedLsn() !== undefined) continue;
      if (route.spool.pendingBytes > 0) continue;
      this.dropping.delete(name);
      routes.delete(name);
      this.options.routeChanged(name);
      await recordDroppedInManifest(lake.manifest, route.table, new Date());
      log.info(
        { table: route.table, seenAt: formatLsn(seenAt) },
        'the source table was dropped: marked dropped, its lake data kept',
      );
    }
  }

  private async join(table: CatalogTable): Promise<void> {
    const { config, source, routes, log } = this.options;
    const name = qualifiedName(table);
    const client = await connectSource(source, { log });
    let route: TableRoute | undefined;
    try {
      const described = await readTableColumns(client, table.schema, table.name);
      // The columns as the base will have them: the snapshot's plan gives the same field ids (schema 0).
      const schema = planTable(described).schema;
      const shape = shapeFromLake(described, schema, lastColumnId(schema))!;
      const spoolDir = join(spoolRoot(config), encodeURIComponent(name));
      rmSync(spoolDir, { recursive: true, force: true });
      const spool = new TableSpool(name, spoolDir, 0, shape);
      saveCommittedShape(spoolDir, shape);
      const gate = new SnapshotGate();
      route = { table: name, ...routeColumns(shape), spool, skipThrough: ZERO_LSN, gate };
      routes.set(name, route);
      this.options.routeChanged(name);
      const altered = await addTableToPublication(client, config.replication.publication, table);
      log.info({ table: name, addedToPublication: altered }, 'a new table joins the stream');
      await this.forgetUncommittedBase(name);
      const lowest = await waitForOlderTransactions(client, log, name, () => this.stopped);
      if (this.stopped) throw new Error('stopping');
      const held = await exportTableSnapshot(client);
      const sorted = gate.resolve(parseSnapshotXids(held.xids), parseLsn(held.seenBelow), spool);
      log.info(
        {
          table: name,
          lsn: lowest,
          seenBelow: held.seenBelow,
          xids: held.xids,
          heldInBase: sorted.inBase,
          heldApplied: sorted.applied,
        },
        'new table: snapshot taken; the transactions read meanwhile are sorted',
      );
      const onboarding = await this.options.onboarding;
      let result: SnapshotTableResult;
      try {
        result = await onboarding.snapshotTable({
          table: {
            identifier: name,
            source: described,
            estimatedRows: Math.max(0, Math.round(table.estimatedRows ?? 0)),
            partitioned: table.kind === 'partitioned',
            location: tableLocation(table.schema, table.name),
          },
          snapshot: { slot: config.replication.slot, consistentPoint: lowest, snapshotName: held.snapshotName },
          late: { xids: held.xids, seenBelow: held.seenBelow },
          parallelWorkers: config.init.parallel_workers,
        });
      } finally {
        await held.release().catch(() => undefined);
      }
      const loaded = await loadTableMetadata(this.options.lake.store, this.options.lake.catalog, name);
      bindFreshSpool(spoolDir, loaded.metadata['table-uuid']);
      await onboarding.startTable({
        table: name,
        epoch: 0,
        committedLsn: lowest,
        schemaVersion: loaded.metadata['current-schema-id'],
        spoolDir,
      });
      gate.ready = true;
      log.info({ table: name, rows: result.rows, lsn: lowest }, 'new table snapshotted; streaming it');
    } catch (error) {
      if (route && routes.get(name) === route) {
        routes.delete(name);
        this.options.routeChanged(name);
        route.gate?.abandon(route.spool);
        route.spool.discardAllPending();
      }
      if (!this.stopped)
        log.error({ err: new LateTableError(name, error), table: name }, 'a new table could not join the stream');
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /**
   * A base committed to the catalog by an attempt that crashed before the manifest recorded it is not built on:
   * the new snapshot starts from an empty table (the old files stay for the orphan sweep).
   */
  private async forgetUncommittedBase(name: string): Promise<void> {
    const { catalog } = this.options.lake;
    for (const identifier of [name, changelogIdentifier(name)]) await catalog.dropTable(identifier);
  }
}
