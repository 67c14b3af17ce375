import { randomBytes } from 'node:crypto';
import type { DuckDBInstance } from '@duckdb/node-api';
import type { Logger } from '../../core/log/index.js';
import { formatLsn, parseLsn, tryParseLsn, ZERO_LSN, type LsnText } from '../../core/lsn/index.js';
import type { Catalog } from '../catalog/index.js';
import { changelogIdentifier, pgcdcSummary, SUMMARY_KEY, summaryEpoch, summaryLsn } from '../contract/index.js';
import { TableNotFoundError } from '../errors.js';
import { currentSchema, type Snapshot } from '../iceberg/metadata.js';
import type { RawTagRetention } from '../iceberg/raw-tags.js';
import { headSnapshot } from '../iceberg/refs.js';
import { findSnapshotByProperty, loadTableMetadata, type LoadedTable } from '../iceberg/table.js';
import { ManifestStore } from '../manifest.js';
import { requestDelta, type ObjectStore } from '../storage/index.js';
import { commitChanges, type ChangesCommit } from './changes.js';
import {
  ChangeBatchError,
  EpochGapError,
  EpochMismatchError,
  EpochOutOfMemoryError,
  EpochStateError,
  isDuckDBOutOfMemory,
} from './errors.js';
import { evolveToSchema } from './evolve.js';
import { dropEvents, loadEvents, useEvents, type LoadedEvents } from './events.js';
import { identityKey } from './keys.js';
import { recordEpochInManifest } from './manifest-entry.js';
import { epochSnapshotId } from './naming.js';
import { locatorUpdated, startLocatorUpdate } from './locator-updates.js';
import { commitState, keyOverRow, locatorPath, locatorTag, openLocator, type StateCommit } from './state.js';
import { phaseTimer } from './timing.js';
import type { ChangeBatch, ChangeCodec, EpochCommit } from './types.js';

/**
 * Committing one flush epoch of one table: the changelog snapshot, then the state snapshot, then the manifest.
 * Every step can be repeated: snapshot ids and file names derive from (table, epoch), a committed snapshot is found
 * instead of redone, and the epoch in the state table's snapshot summary says how far the table got. The caller (the
 * table's actor) is the table's only writer.
 */
export interface EpochContext {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  /** One connection per call is taken from it (temp tables are per connection). */
  readonly duckdb: DuckDBInstance;
  /** Local directory of the per-table locators (a cache: deleting it costs a rebuild, nothing else). */
  readonly locatorDir: string;
  readonly log: Logger;
  /** Default: the manifest of `store`. */
  readonly manifest?: ManifestStore;
  /** The `raw@<time>` tag of each epoch's state snapshot and its retention; none when absent. */
  readonly rawTags?: RawTagRetention;
}

const MAX_LONG = (1n << 63n) - 1n;
/** ISO 8601 with an offset, as the stream writes it: `2026-03-01T10:00:00.123456+00:00`. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}(:?\d{2})?)$/;

function checkBatch(batch: ChangeBatch, committedLsn: bigint | undefined): void {
  const fail = (message: string, context: Record<string, string | number> = {}): never => {
    throw new EpochMismatchError(batch.table, batch.epoch, message, context);
  };
  let previous = committedLsn;
  const xids = new Set<string>();
  batch.transactions.forEach((tx, index) => {
    const lsn = tryParseLsn(tx.commitLsn);
    if (lsn === undefined || lsn > MAX_LONG)
      fail(`transaction ${index} has an invalid commit LSN`, { lsn: tx.commitLsn });
    if (!/^\d{1,10}$/.test(tx.xid)) fail(`transaction ${index} has an invalid xid`, { xid: tx.xid });
    if (xids.has(tx.xid)) fail(`xid ${tx.xid} names two transactions of the batch`, { index, xid: tx.xid });
    xids.add(tx.xid);
    if (!ISO_TIME.test(tx.commitTime)) fail(`transaction ${index} has an invalid commit time`, { time: tx.commitTime });
    // The rest of a transaction split at an ALTER starts the next epoch at the LSN the previous one ended at.
    const atPrevious = index === 0 && tx.continued === true && lsn === previous;
    if (previous !== undefined && lsn! <= previous && !atPrevious) {
      fail(`commit LSN ${tx.commitLsn} of transaction ${index} is not above ${formatLsn(previous)}`, { index });
    }
    previous = lsn;
  });
}

/** The primary key's column names, in key order; none for a table identified by its whole row. */
function primaryKeyOf(state: LoadedTable, codec: ChangeCodec): string[] {
  if (codec.identityKind !== 'primary-key') return [];
  const names = new Map(currentSchema(state.metadata).fields.map((field) => [field.id, field.name]));
  return codec.identity.map((id) => names.get(id) ?? String(id));
}

const epochOf = (snapshot: Snapshot | undefined): number | undefined => summaryEpoch(snapshot?.summary);

/** The EpochCommit of an epoch that is already in the table, from its snapshots' summaries. */
async function committedEpoch(
  ctx: EpochContext,
  batch: ChangeBatch,
  state: LoadedTable,
  codec: ChangeCodec,
): Promise<EpochCommit> {
  const epoch = String(batch.epoch);
  const snapshot = findSnapshotByProperty(state.metadata, SUMMARY_KEY.epoch, epoch);
  if (!snapshot) {
    throw new EpochStateError(
      batch.table,
      batch.epoch,
      'the epoch was committed but its snapshot is no longer in the table (expired)',
      'nothing to redo: the table is past this epoch; continue with the next one',
    );
  }
  const committedLsn = summaryLsn(snapshot.summary);
  if (committedLsn === undefined) {
    throw new EpochStateError(
      batch.table,
      batch.epoch,
      'the committed epoch records no LSN',
      `the snapshot was not written by pg-cdc: its summary lacks ${SUMMARY_KEY.lsn}`,
    );
  }
  const last = batch.transactions.at(-1);
  if (last && last.commitLsn !== committedLsn) {
    throw new EpochMismatchError(batch.table, batch.epoch, 'the committed epoch ends at another LSN than this batch', {
      committedLsn,
      batchLsn: last.commitLsn,
    });
  }
  let changes: LoadedTable | undefined;
  try {
    changes = await loadTableMetadata(ctx.store, ctx.catalog, changelogIdentifier(batch.table));
  } catch (error) {
    if (!(error instanceof TableNotFoundError)) throw error;
  }
  const changesSnapshot = changes && findSnapshotByProperty(changes.metadata, SUMMARY_KEY.epoch, epoch);
  if (changes && epochOf(headSnapshot(state.metadata)) === batch.epoch) {
    await recordEpochInManifest(ctx.manifest ?? new ManifestStore(ctx.store), ctx.log, {
      state,
      changes,
      primaryKey: primaryKeyOf(state, codec),
      epoch: batch.epoch,
      committedLsn,
    });
  }
  const count = (key: string): number => Number(snapshot.summary[key] ?? 0);
  return {
    table: batch.table,
    epoch: batch.epoch,
    committedLsn,
    stateSnapshotId: String(snapshot['snapshot-id']),
    changesSnapshotId: String(
      changesSnapshot?.['snapshot-id'] ?? epochSnapshotId(changelogIdentifier(batch.table), batch.epoch),
    ),
    rowsInserted: count(SUMMARY_KEY.rowsInserted),
    rowsDeleted: count(SUMMARY_KEY.rowsDeleted),
    changes: Number(changesSnapshot?.summary[SUMMARY_KEY.changes] ?? count(SUMMARY_KEY.changes)),
    committed: false,
  };
}

export async function commitEpoch(ctx: EpochContext, batch: ChangeBatch, codec: ChangeCodec): Promise<EpochCommit> {
  if (!Number.isInteger(batch.epoch) || batch.epoch < 1) {
    throw new EpochMismatchError(batch.table, batch.epoch, 'epochs are whole numbers from 1 (0 is the snapshot base)');
  }
  let state = await loadTableMetadata(ctx.store, ctx.catalog, batch.table);
  let parent = headSnapshot(state.metadata);
  const tableEpoch = epochOf(parent);
  if (!parent || tableEpoch === undefined) {
    throw new EpochStateError(
      batch.table,
      batch.epoch,
      'the table has no pg-cdc snapshot to build on',
      `commit the snapshot base first (pg-cdc init); epochs build on its ${SUMMARY_KEY.epoch}`,
    );
  }
  if (tableEpoch >= batch.epoch) return committedEpoch(ctx, batch, state, codec);
  if (tableEpoch < batch.epoch - 1) throw new EpochGapError(batch.table, batch.epoch, tableEpoch);
  const parentLsn = summaryLsn(parent.summary);
  checkBatch(batch, parentLsn === undefined ? undefined : parseLsn(parentLsn));
  if (codec.schema) {
    const connection = await ctx.duckdb.connect();
    let evolution;
    try {
      evolution = await evolveToSchema(ctx.store, ctx.catalog, state, codec.schema, { connection, codec });
    } finally {
      connection.closeSync();
    }
    state = evolution.state;
    // A fill of the rows already there is a snapshot of its own: the epoch builds on it.
    parent = headSnapshot(state.metadata) ?? parent;
    if (evolution.evolved) {
      const schemaId = state.metadata['current-schema-id'];
      ctx.log.info({ table: batch.table, epoch: batch.epoch, schemaId }, 'table schema evolved');
    }
  }

  const schema = currentSchema(state.metadata);
  const key = identityKey(schema, codec);
  const committedLsn: LsnText = batch.transactions.at(-1)?.commitLsn ?? parentLsn ?? formatLsn(ZERO_LSN);
  const firstLsn = batch.transactions[0]?.commitLsn;
  const summary = pgcdcSummary({
    kind: 'epoch',
    epoch: batch.epoch,
    lsn: committedLsn,
    ...(firstLsn ? { firstLsn } : {}),
  });
  const phase = phaseTimer();
  // S3 bills per request: the epoch's line says what it sent (with whatever else this process sent meanwhile).
  const requestsBefore = ctx.store.requestCounts();
  const connection = await ctx.duckdb.connect();
  const changelogConnection = await ctx.duckdb.connect();
  const eventsTable = `epoch_events_${randomBytes(8).toString('hex')}`;
  let changesWork: Promise<ChangesCommit> | undefined;
  let stateCommit: StateCommit | undefined;
  try {
    let events: LoadedEvents;
    try {
      events = await loadEvents(connection, batch, codec, key, eventsTable);
    } catch (error) {
      if (isDuckDBOutOfMemory(error)) throw new EpochOutOfMemoryError(batch.table, batch.epoch, error);
      throw new ChangeBatchError(batch.table, batch.epoch, error);
    }
    phase('load');
    // The changelog's Parquet file is written by DuckDB on a connection of its own once the epoch is resolved, while
    // the state side opens the locator, looks the epoch's rows up in it (SQLite) and writes its own files: the two
    // share the cores instead of taking turns. Its snapshot is still committed before the state's (commitState
    // waits for it).
    const count = events.count;
    const changelog = (): Promise<ChangesCommit> => {
      if (changesWork) return changesWork;
      const started = performance.now();
      changesWork = useEvents(changelogConnection, eventsTable)
        .then(() =>
          commitChanges(ctx.store, ctx.catalog, changelogConnection, state, schema, codec, batch.epoch, count, summary),
        )
        .finally(() => phase.beside('changelog', performance.now() - started));
      // Awaited before the state commit; until then a failure must not count as unhandled.
      changesWork.catch(() => undefined);
      return changesWork;
    };
    stateCommit = await commitState(
      {
        store: ctx.store,
        catalog: ctx.catalog,
        connection,
        locatorDir: ctx.locatorDir,
        log: ctx.log,
        phase,
        beside: () => void changelog(),
        beforeLakeCommit: changelog,
        ...(ctx.rawTags ? { rawTags: ctx.rawTags } : {}),
      },
      state,
      parent,
      codec,
      key,
      batch.epoch,
      { ...summary, [SUMMARY_KEY.changes]: String(events.count) },
    );
    const changes = await changelog();
    await recordEpochInManifest(ctx.manifest ?? new ManifestStore(ctx.store), ctx.log, {
      state: stateCommit.result.table,
      changes: changes.table,
      primaryKey: primaryKeyOf(stateCommit.result.table, codec),
      epoch: batch.epoch,
      committedLsn,
    });
    phase('manifest');
    const result: EpochCommit = {
      table: batch.table,
      epoch: batch.epoch,
      committedLsn,
      stateSnapshotId: String(stateCommit.result.snapshot['snapshot-id']),
      changesSnapshotId: String(changes.snapshotId),
      rowsInserted: stateCommit.rowsInserted,
      rowsDeleted: stateCommit.rowsDeleted,
      changes: events.count,
      committed: stateCommit.result.committed,
    };
    ctx.log.info(
      {
        ...result,
        truncated: stateCommit.truncated,
        resolver: stateCommit.resolver,
        changesCommitted: changes.committed,
        phases: phase.phases,
        requests: requestDelta(requestsBefore, ctx.store.requestCounts()),
      },
      'epoch committed',
    );
    return result;
  } finally {
    // After the manifest, so that the epoch returns before the locator's SQLite work takes turns on the event loop;
    // and also when the manifest failed, as the state is committed all the same.
    stateCommit?.startLocatorMove(ctx.duckdb);
    // The changelog connection may still be writing when the state side failed: let it finish before closing.
    await changesWork?.catch(() => undefined);
    try {
      await dropEvents(connection, eventsTable);
    } finally {
      changelogConnection.closeSync();
      connection.closeSync();
    }
  }
}

/**
 * Brings the table's locator up to its current snapshot now (at stream start, say), so that the first epoch does
 * not pay for building it; a no-op when it is already current. It runs as one of the locator's updates: an epoch
 * that opens the locator meanwhile waits for it instead of building it a second time. A failure is logged, not
 * thrown: the next epoch builds the locator itself.
 */
export async function prepareLocator(ctx: EpochContext, table: string, codec: ChangeCodec): Promise<void> {
  // The path depends on the table's location only, which its snapshots do not change.
  const path = locatorPath(ctx.locatorDir, await loadTableMetadata(ctx.store, ctx.catalog, table));
  startLocatorUpdate(path, ctx.log, { table }, async () => {
    const state = await loadTableMetadata(ctx.store, ctx.catalog, table);
    const current = headSnapshot(state.metadata);
    if (!current) return;
    const key = identityKey(currentSchema(state.metadata), codec);
    const connection = await ctx.duckdb.connect();
    try {
      const tag = locatorTag(state, key, current['snapshot-id']);
      const overRow = keyOverRow(codec, key);
      const locator = await openLocator({ ...ctx, connection }, state, key, overRow, tag, false, { waiting: false });
      locator.close();
    } finally {
      connection.closeSync();
    }
  });
  await locatorUpdated(path);
}
