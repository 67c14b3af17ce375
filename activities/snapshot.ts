import { Context } from '@temporalio/activity';
import type pg from 'pg';
import type { PgCdcConfig } from '../core/config/index.js';
import type { Logger } from '../core/log/index.js';
import type { LsnText } from '../core/lsn/index.js';
import { qualifiedName, quoteQualified, selectTables } from '../core/selection/index.js';
import { planTable } from '../core/types/index.js';
import { assertPublishable } from '../governance/publishable.js';
import { tableLocation } from '../lake/contract/index.js';
import type { DataFile } from '../lake/iceberg/table.js';
import type { WrittenParquet } from '../lake/parquet/writer.js';
import { listTables } from '../source/catalog.js';
import { readTableColumns, type SourceTable } from '../source/columns.js';
import { connectSource, describeTarget, withSource } from '../source/connection.js';
import { chunkPredicate, planChunks, type ChunkPlan } from '../source/snapshot/chunks.js';
import { CopyRowTooLongError, type CopyOutStream } from '../source/snapshot/copy-out.js';
import { copyUnderSnapshot, SnapshotGoneError } from '../source/snapshot/copy.js';
import { ensurePublication, type QualifiedTable } from '../source/snapshot/publication.js';
import { createSlotWithSnapshot, dropSlot, SlotExistsError, slotExists } from '../source/snapshot/slot.js';
import type { ChunkHeartbeat, SnapshotExported } from '../workflows/snapshot-messages.js';
import { asActivity } from './failures.js';
import type { LakeAccess } from './lake.js';
import { LakeNotEmptyError } from './lake.js';

export interface SnapshotTable {
  readonly identifier: string;
  readonly source: SourceTable;
  readonly estimatedRows: number;
  readonly partitioned: boolean;
  /** Key prefix of the Iceberg table in the lake. */
  readonly location: string;
}

export interface ChunkResult {
  readonly identifier: string;
  readonly index: number;
  readonly rows: number;
  readonly dataFile: DataFile;
}

export interface SnapshotActivityDeps {
  readonly config: PgCdcConfig;
  readonly sourceUrl: string;
  readonly log: Logger;
  readonly lake: () => Promise<LakeAccess>;
}

// A chunk's heartbeat carries its progress, which `init` shows: often enough for a progress bar to move. The SDK
// sends at most one heartbeat a second to the server (the worker's maxHeartbeatThrottleInterval).
const HEARTBEAT_MS = 1_000;
// The Parquet writer's CSV buffers are sized to the longest row they accept, and small buffers write faster (about
// 10% here, 4 MiB against 64 MiB). A chunk holding a longer row is copied again with the large ones; a row longer
// than those fails the chunk.
const SMALL_ROW_BYTES = 4 * 1024 * 1024;
const LARGE_ROW_BYTES = 64 * 1024 * 1024;

/**
 * The exported snapshots this process holds, by snapshot name, each with the function that lets its hold end.
 * releaseExportedSnapshot runs on the same host queue, so it finds the hold here: ending it this way is immediate,
 * where a cancellation reaches an activity only with its next heartbeat's response.
 */
const heldExports = new Map<string, () => void>();

/** `0/16B3748` → `0000000016B3748`-style: file names that sort and never contain a slash. */
const lsnSlug = (lsn: string): string => lsn.replace('/', '-');

export function createSnapshotActivities(deps: SnapshotActivityDeps) {
  const source = { ...deps.config.source.postgres, url: deps.sourceUrl };
  const { slot, publication } = deps.config.replication;
  const target = describeTarget(deps.sourceUrl);
  const withClient = <R>(fn: (client: pg.Client) => Promise<R>): Promise<R> =>
    withSource(source, fn, { log: deps.log });

  return {
    /** The tables the configuration selects, with their columns and primary keys as the snapshot will read them. */
    async describeSnapshotTables(): Promise<SnapshotTable[]> {
      return asActivity(() =>
        withClient(async (client) => {
          const found = await listTables(client);
          const selection = selectTables(found, { ...deps.config.tables, schemas: source.schemas });
          // governance.mode strict: an untagged table is refused before anything is written (UNTAGGED_TABLES).
          await assertPublishable(
            deps.config,
            selection.selected.map((decision) => qualifiedName(decision.table)),
            {
              database: target.database,
            },
          );
          const tables: SnapshotTable[] = [];
          for (const decision of selection.selected) {
            const table = decision.table;
            tables.push({
              identifier: qualifiedName(table),
              source: await readTableColumns(client, table.schema, table.name),
              estimatedRows: Math.max(0, Math.round(table.estimatedRows ?? 0)),
              partitioned: table.kind === 'partitioned',
              location: tableLocation(table.schema, table.name),
            });
          }
          return tables;
        }),
      );
    },

    async preparePublication(tables: QualifiedTable[]): Promise<{ created: boolean }> {
      return asActivity(() => withClient((client) => ensurePublication(client, publication, tables)));
    },

    /** A snapshot starts from nothing: no slot of that name, no lake tables from an earlier run. */
    async assertSlotAbsent(): Promise<void> {
      return asActivity(async () => {
        await withClient(async (client) => {
          if (await slotExists(client, slot)) throw new SlotExistsError(slot, client.database ?? '');
        });
        const lake = await deps.lake();
        const existing = await lake.listTableIdentifiers();
        if (existing.length > 0) throw new LakeNotEmptyError(existing);
      });
    },

    /**
     * Create the slot with an exported snapshot, tell the workflow, and keep the exporting connection open and idle
     * (heartbeating) until the workflow releases it (releaseExportedSnapshot) or cancels this activity: the snapshot
     * lives exactly as long as it does.
     */
    async holdExportedSnapshot(): Promise<void> {
      const context = Context.current();
      const replication = await connectSource(source, { replication: true, log: deps.log });
      try {
        // A walsender answers SHOW: the version (which CREATE_REPLICATION_SLOT syntax) needs no second connection.
        const { rows } = await replication.query<{ server_version_num: string }>('SHOW server_version_num');
        const version = Number(rows[0]?.server_version_num);
        const exported = await asActivity(() => createSlotWithSnapshot(replication, slot, version));
        const execution = context.info.workflowExecution;
        if (!execution) throw new Error('holdExportedSnapshot runs only as a workflow activity');
        await context.client.workflow
          .getHandle(execution.workflowId, execution.runId)
          .signal<[SnapshotExported]>('snapshotExported', exported);
        deps.log.info({ slot, lsn: exported.consistentPoint, snapshot: exported.snapshotName }, 'snapshot exported');
        await new Promise<void>((resolve, reject) => {
          // Every second: the heartbeat's response is how this activity learns the workflow is done with it.
          const beat = setInterval(() => context.heartbeat({ lsn: exported.consistentPoint }), 1000);
          const lost = (error?: unknown): void => {
            clearInterval(beat);
            reject(new SnapshotGoneError(exported.snapshotName, error ?? new Error('the exporting connection closed')));
          };
          replication.once('end', lost);
          replication.once('error', lost);
          const release = (): void => {
            clearInterval(beat);
            replication.off('end', lost);
            replication.off('error', lost);
            resolve();
          };
          heldExports.set(exported.snapshotName, release);
          context.cancelled.catch(release);
        }).finally(() => heldExports.delete(exported.snapshotName));
      } finally {
        await replication.end().catch(() => undefined);
      }
    },

    /** End holdExportedSnapshot's hold on a snapshot; false when this process does not hold it (any more). */
    releaseExportedSnapshot(snapshotName: string): Promise<boolean> {
      const release = heldExports.get(snapshotName);
      release?.();
      return Promise.resolve(release !== undefined);
    },

    async planChunks(tables: SnapshotTable[]): Promise<ChunkPlan[]> {
      return asActivity(async () => {
        // The chunks are copied next: their Parquet writers get ready while the slot is being created.
        (await deps.lake()).prepareWrites();
        return withClient((client) =>
          planChunks(
            client,
            tables.map((t) => ({
              identifier: t.identifier,
              schema: t.source.schema,
              name: t.source.name,
              partitioned: t.partitioned,
            })),
            deps.config.init.chunk_target_bytes,
            deps.config.init.parallel_workers,
          ),
        );
      });
    },

    /** COPY one chunk under the exported snapshot, streamed through a FIFO into DuckDB, which writes its Parquet file. */
    async copyChunk(input: {
      chunk: ChunkPlan;
      table: SnapshotTable;
      snapshot: SnapshotExported;
    }): Promise<ChunkResult> {
      return asActivity(async () => {
        const { chunk, table, snapshot } = input;
        const context = Context.current();
        const plan = planTable(table.source);
        const lake = await deps.lake();
        const name = `snapshot-${lsnSlug(snapshot.consistentPoint)}-${String(chunk.index).padStart(5, '0')}.parquet`;
        const output = await lake.newDataFile(table.location, name);
        const client = await connectSource(source, { log: deps.log });
        let rows: CopyOutStream | undefined;
        const beat = setInterval(() => {
          const details: ChunkHeartbeat = {
            table: table.identifier,
            chunk: chunk.index,
            rowsCopied: rows?.rowsReceived ?? 0,
          };
          context.heartbeat(details);
        }, HEARTBEAT_MS);
        try {
          const query = `SELECT ${plan.selectList()} FROM ${quoteQualified(table.source.schema, table.source.name)} WHERE ${chunkPredicate(chunk)}`;
          const copy = (maxRowBytes: number): Promise<WrittenParquet> =>
            copyUnderSnapshot<WrittenParquet>(
              client,
              { snapshotName: snapshot.snapshotName, query, maxRowBytes },
              (stream) => {
                rows = stream;
                return lake.writeParquet(stream, {
                  csvColumns: plan.csvColumns(),
                  select: plan.duckdbSelect(),
                  fieldIds: plan.fieldIds(),
                  output: output.localPath,
                  maxLineSize: maxRowBytes,
                  zstdLevel: deps.config.init.zstd_level,
                });
              },
            );
          const copyWithin = async (maxRowBytes: number, larger: readonly number[]): Promise<WrittenParquet> => {
            try {
              return await copy(maxRowBytes);
            } catch (error) {
              const [next, ...rest] = larger;
              if (!(error instanceof CopyRowTooLongError)) throw error;
              if (next === undefined) throw new CopyRowTooLongError(error.rowBytes, error.limit, table.identifier);
              deps.log.info(
                { table: table.identifier, chunk: chunk.index, rowBytes: error.rowBytes },
                'a row is longer than the small CSV buffers: copying the chunk again with large ones',
              );
              return copyWithin(next, rest);
            }
          };
          const written = await copyWithin(SMALL_ROW_BYTES, [LARGE_ROW_BYTES]);
          const dataFile = await output.commit(written);
          return { identifier: table.identifier, index: chunk.index, rows: written.recordCount, dataFile };
        } finally {
          clearInterval(beat);
          await client.end().catch(() => undefined);
        }
      });
    },

    /** Give back a slot whose snapshot is lost or failed, and delete the Parquet files written under it. */
    async abandonSnapshotAttempt(input: { slot: string; consistentPoint: string; reason: string }): Promise<void> {
      return asActivity(async () => {
        deps.log.warn(input, 'abandoning the snapshot attempt');
        await withClient((client) => dropSlot(client, input.slot));
        const lake = await deps.lake();
        await lake.deleteSnapshotFiles(`snapshot-${lsnSlug(input.consistentPoint)}-`);
      });
    },

    /**
     * One Iceberg snapshot per table holding every chunk; idempotent on the slot's consistent point. A table that
     * joined while streaming passes what the snapshot it was copied under sees (`late`); its `consistentPoint` is
     * then a position below which every transaction is in the copy, not the slot's.
     */
    async commitSnapshotTable(input: {
      table: SnapshotTable;
      files: DataFile[];
      snapshot: SnapshotExported;
      late?: { xids: string; seenBelow: LsnText };
    }): Promise<{ table: string; rows: number; files: number; snapshotId: string }> {
      return asActivity(async () => {
        const lake = await deps.lake();
        const plan = planTable(input.table.source);
        const snapshotId = await lake.commitBase({
          identifier: input.table.identifier,
          location: input.table.location,
          schema: plan.schema,
          files: input.files,
          lsn: input.snapshot.consistentPoint,
          slot: input.snapshot.slot,
          primaryKey: input.table.source.primaryKey,
          sourceTable: input.table.source,
          source: { database: target.database, host: target.host, publication },
          ...(input.late === undefined ? {} : { late: input.late }),
        });
        const rows = input.files.reduce((sum, file) => sum + file.recordCount, 0);
        return { table: input.table.identifier, rows, files: input.files.length, snapshotId };
      });
    },
  };
}
