import { join } from 'node:path';
import type pg from 'pg';
import type { PgCdcConfig } from '../core/config/index.js';
import { PgCdcError } from '../core/errors/index.js';
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
import { spoolRoot } from './setup.js';
import { loadCommittedShape, saveCommittedShape } from './spool-files.js';

/**
 * `pg-cdc reconcile`: a table's columns and key as the source catalog has them now, against the shape its lake
 * table was last committed in (the spool's record of it), and the same evolution the stream applies at a Relation
 * message (core/types/evolution.ts, stream/identity.ts), applied outside the stream: for an ALTER made while
 * `pg-cdc start` was down. Columns are matched by attnum, so a rename is a rename and a column dropped and added
 * again under its name is a new column.
 */
export interface ReconcilePlan {
  readonly table: string;
  /** One line per change; empty when the lake is up to date. */
  readonly changes: readonly string[];
  readonly shape?: TableShape;
}

export class ReconcileUnknownShapeError extends PgCdcError {
  constructor(table: string) {
    super('SCHEMA_CHANGED', `${table} has no recorded shape in the spool to reconcile from`, {
      context: { table },
      hint: "run `pg-cdc start` once before the change (it records each table's committed columns), or re-snapshot the table",
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
  const previous = loadCommittedShape(spoolDirOf(ctx.config, table));
  if (!previous) throw new ReconcileUnknownShapeError(table);
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
  return { table, changes, shape };
}

/** Brings the lake table (and its changelog) to the plan's shape, fills what the rows there need, records it. */
export async function applyReconcile(ctx: ReconcileContext, plan: ReconcilePlan): Promise<void> {
  if (!plan.shape) return;
  const state = await loadTableMetadata(ctx.store, ctx.catalog, plan.table);
  const schema = planOfShape(plan.shape).schema;
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
  saveCommittedShape(spoolDirOf(ctx.config, plan.table), shape);
}

const spoolDirOf = (config: PgCdcConfig, table: string): string => join(spoolRoot(config), encodeURIComponent(table));

const sameKey = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((name, i) => name === b[i]);
