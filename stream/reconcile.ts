import { join } from 'node:path';
import type pg from 'pg';
import type { PgCdcConfig } from '../core/config/index.js';
import { PgCdcError } from '../core/errors/index.js';
import { parseLsnText } from '../core/lsn/index.js';
import type { Logger } from '../core/log/index.js';
import { evolveShape, matchColumns, planOfShape, type TableShape } from '../core/types/evolution.js';
import { parseIdentifier, type Catalog } from '../lake/catalog/index.js';
import { loadTableMetadata } from '../lake/iceberg/table.js';
import type { ManifestStore } from '../lake/manifest.js';
import { openDuckDB } from '../lake/parquet/writer.js';
import { evolveToSchema } from '../lake/state/evolve.js';
import { recordMaintenanceInManifest } from '../lake/state/manifest-entry.js';
import type { ObjectStore } from '../lake/storage/index.js';
import { describeRelation, readTableColumns } from '../source/columns.js';
import { changeCodec } from './codec.js';
import { describeChanges } from './evolve.js';
import { describeKeyChange, withPrimaryKey } from './identity.js';
import { readSlotPosition } from '../source/slot-position.js';
import type { ReconciledColumns, TupleMap } from './routes.js';
import { recordedLakeShape, spoolRoot } from './setup.js';
import { bindSpoolToLakeTable, saveCommittedShape, saveReconciled } from './spool-files.js';

/**
 * `pg-cdc reconcile`: a table's columns and key as the source catalog has them now, against the shape its lake
 * table was last committed in (the spool's record of it, or before the first `start` the source columns its base
 * was planned from), and the same evolution the stream applies at a Relation message (core/types/evolution.ts,
 * stream/identity.ts), applied outside the stream: for an ALTER made between `init` and the first `start`, or while
 * `pg-cdc start` was down. Columns are matched by attnum, so a rename is a rename and a column dropped and added
 * again under its name is a new column.
 *
 * The slot still sends the transactions from before the change, in the columns they were written in; the record
 * applyReconcile leaves in the spool (reconciled.json) has the stream map their rows onto the new columns (an added
 * column takes the value PostgreSQL gives rows from before it) rather than evolve the lake back.
 */
export interface ReconcilePlan {
  readonly table: string;
  /** One line per change; empty when the lake is up to date. */
  readonly changes: readonly string[];
  readonly shape?: TableShape;
  /** What the stream needs for the transactions from before the change (with `shape`). */
  readonly reconciled?: ReconciledColumns;
}

export class ReconcileUnknownShapeError extends PgCdcError {
  constructor(table: string) {
    super('SCHEMA_CHANGED', `${table}: neither the spool nor the lake records the columns it was committed in`, {
      context: { table },
      hint: 'its base snapshot was committed by a version that did not record its source columns, and no `pg-cdc start` has run since: snapshot the table again',
    });
  }
}

export interface ReconcileContext {
  readonly config: PgCdcConfig;
  readonly client: pg.ClientBase;
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  readonly manifest: ManifestStore;
  readonly log: Logger;
}

export async function planReconcile(ctx: ReconcileContext, table: string): Promise<ReconcilePlan> {
  const { namespace, name } = parseIdentifier(table);
  const state = await loadTableMetadata(ctx.store, ctx.catalog, table);
  const previous = recordedLakeShape(spoolDirOf(ctx.config, table), state.metadata);
  if (!previous) throw new ReconcileUnknownShapeError(table);
  // Read before the catalog: every transaction committed below it was written in columns the catalog shows or
  // older ones, so the stream maps exactly those (an ALTER committed in between is a change it follows itself).
  const { walEnd } = await readSlotPosition(ctx.client, ctx.config.replication.slot);
  const now = await readTableColumns(ctx.client, namespace, name);
  const described = await describeRelation(ctx.client, namespace, name, now.columns);
  const matches = matchColumns(previous.source.columns, now.columns, described.attnums);
  const evolved = evolveShape(
    previous,
    { ...described.table, primaryKey: previous.source.primaryKey },
    matches,
    described.defaults,
  );
  const columns = evolved.changes.length > 0 ? evolved.shape : previous;
  const keyChanged = !sameKey(previous.source.primaryKey, now.primaryKey);
  const changes = [
    ...describeChanges(evolved.changes),
    ...(keyChanged ? [describeKeyChange(previous.source.primaryKey, now.primaryKey)] : []),
  ];
  if (changes.length === 0) return { table, changes };
  const shape = keyChanged ? withPrimaryKey(columns, now.primaryKey, evolved.changes.length === 0) : columns;
  const defaults = new Map((shape.fills ?? []).map((fill) => [fill.fieldId, fill.default ?? null]));
  const map: TupleMap = {
    from: matches.map((index) => index ?? -1),
    missing: shape.ids.map((ids, i) => (matches[i] === undefined ? (defaults.get(ids.fieldId) ?? null) : null)),
  };
  const { fills: _fills, ...from } = previous;
  const reconciled = walEnd === null ? undefined : { atLsn: parseLsnText(walEnd), schemaId: shape.schemaId, from, map };
  return { table, changes, shape, ...(reconciled ? { reconciled } : {}) };
}

/** Brings the lake table (and its changelog) to the plan's shape, fills what the rows there need, records it. */
export async function applyReconcile(ctx: ReconcileContext, plan: ReconcilePlan): Promise<void> {
  if (!plan.shape) return;
  const state = await loadTableMetadata(ctx.store, ctx.catalog, plan.table);
  const schema = planOfShape(plan.shape).schema;
  // A lake that never streamed has no spool yet; the stream binds it to the table (and keeps what is here).
  bindSpoolToLakeTable(spoolDirOf(ctx.config, plan.table), state.metadata['table-uuid']);
  const codec = changeCodec(plan.shape.source, planOfShape(plan.shape), plan.shape.fills);
  const duck = await openDuckDB({ threads: 1 });
  try {
    const { state: evolved } = await evolveToSchema(ctx.store, ctx.catalog, state, schema, {
      connection: duck.connection,
      codec,
    });
    await recordMaintenanceInManifest(ctx.manifest, ctx.log, { state: evolved });
  } finally {
    duck.close();
  }
  const { fills: _applied, ...shape } = plan.shape;
  const spoolDir = spoolDirOf(ctx.config, plan.table);
  saveCommittedShape(spoolDir, shape);
  if (plan.reconciled) saveReconciled(spoolDir, plan.reconciled);
}

const spoolDirOf = (config: PgCdcConfig, table: string): string => join(spoolRoot(config), encodeURIComponent(table));

const sameKey = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((name, i) => name === b[i]);
