import { join } from 'node:path';
import type pg from 'pg';
import type { PgCdcConfig } from '../core/config/index.js';
import type { Logger } from '../core/log/index.js';
import { PgCdcError } from '../core/errors/index.js';
import { maxLsn, parseLsn, parseLsnText, ZERO_LSN, type LsnText } from '../core/lsn/index.js';
import { planOfShape, sameFields, shapeFromLake, type TableShape } from '../core/types/evolution.js';
import type { SourceTable } from '../core/types/source.js';
import { parseIdentifier, type Catalog } from '../lake/catalog/index.js';
import { summaryEpoch, summaryLsn, TABLE_PROPERTY } from '../lake/contract/index.js';
import { currentSchema, type TableMetadata } from '../lake/iceberg/metadata.js';
import { headSnapshot } from '../lake/iceberg/refs.js';
import { loadTableMetadata } from '../lake/iceberg/table.js';
import type { ManifestStore } from '../lake/manifest.js';
import { recordDroppedInManifest } from '../lake/state/manifest-entry.js';
import { parseSnapshotXids } from '../core/xid/index.js';
import type { ObjectStore } from '../lake/storage/index.js';
import { readTableColumns, SourceTableNotFoundError } from '../source/columns.js';
import { routeColumns, SchemaChangedError, type ReconciledColumns, type TableRoute } from './routes.js';
import { SnapshotGate } from './snapshot-gate.js';
import {
  bindSpoolToLakeTable,
  clearReconciled,
  loadCommittedShape,
  loadReconciled,
  saveCommittedShape,
} from './spool-files.js';
import { TableSpool } from './spool.js';

export class NotInitializedError extends PgCdcError {
  constructor() {
    super('NOT_INITIALIZED', 'the lake has no snapshot to stream into', {
      hint: 'run `pg-cdc init` first: it creates the slot and the base tables that `start` keeps up to date',
    });
  }
}

export interface TableStart {
  readonly table: string;
  readonly epoch: number;
  readonly committedLsn: LsnText;
  readonly schemaVersion: number;
  readonly spoolDir: string;
}

/** The spool of one slot: `<spool.dir>/<slot>/<table, URI-encoded>`. */
export const spoolRoot = (config: PgCdcConfig): string => join(config.spool.dir, config.replication.slot);

/**
 * The shape the lake table was last committed in, as far as the spool's record (shape.json) or the table itself
 * tells: the record when it matches the lake's schema, else the source columns the base snapshot was planned from
 * while the lake is still in that first schema (a change between `init` and the first `start`). Undefined when
 * neither does.
 */
export function recordedLakeShape(spoolDir: string, metadata: TableMetadata): TableShape | undefined {
  const schema = currentSchema(metadata);
  const recorded = loadCommittedShape(spoolDir);
  if (recorded && recorded.schemaId === schema['schema-id'] && sameFields(planOfShape(recorded).schema, schema)) {
    return recorded;
  }
  const base = metadata.properties?.[TABLE_PROPERTY.baseSourceColumns];
  if (base === undefined) return undefined;
  return shapeFromLake(JSON.parse(base) as SourceTable, schema, metadata['last-column-id']);
}

/**
 * The columns a table's stream starts with: those of its lake schema, since the slot resumes at the lake's
 * committed LSN and Relation messages from there on describe every change since (recordedLakeShape); failing a
 * record, the source's columns must be the lake's (a lake made before the base recorded its source columns).
 */
function startShape(spoolDir: string, source: SourceTable, metadata: TableMetadata): TableShape {
  const recorded = recordedLakeShape(spoolDir, metadata);
  if (recorded) return recorded;
  const schema = currentSchema(metadata);
  const shape = shapeFromLake(source, schema, metadata['last-column-id']);
  if (!shape) {
    const fields = (list: readonly { name: string }[]): string => list.map((c) => c.name).join(', ');
    throw new SchemaChangedError(
      `${source.schema}.${source.name}`,
      `the lake has (${fields(schema.fields)}), the source (${fields(source.columns)}), and no stream saw the change`,
    );
  }
  return shape;
}

/**
 * Everything the stream needs per table, from the lake (what is committed, and in which columns) and the source.
 */
export async function prepareRoutes(options: {
  config: PgCdcConfig;
  client: pg.ClientBase;
  store: ObjectStore;
  catalog: Catalog;
  manifest: ManifestStore;
  log?: Logger;
}): Promise<{ routes: Map<string, TableRoute>; tables: TableStart[] }> {
  const current = await options.manifest.read();
  if (!current || Object.keys(current.value.tables).length === 0) throw new NotInitializedError();
  const routes = new Map<string, TableRoute>();
  const tables: TableStart[] = [];
  for (const identifier of Object.keys(current.value.tables).sort()) {
    // A dropped table keeps its lake data as of its last epoch; nothing streams into it.
    if (current.value.tables[identifier]!.dropped_at !== undefined) continue;
    const { namespace, name } = parseIdentifier(identifier);
    const source = await readTableColumns(options.client, namespace, name).catch(async (error: unknown) => {
      if (!(error instanceof SourceTableNotFoundError)) throw error;
      // Dropped while `start` was down: marked so, like a drop seen while streaming (late-tables.ts).
      await recordDroppedInManifest(options.manifest, identifier, new Date());
      options.log?.warn({ table: identifier }, 'the source table was dropped: marked dropped in the manifest');
      return undefined;
    });
    if (source === undefined) continue;
    const loaded = await loadTableMetadata(options.store, options.catalog, identifier);
    const summary = headSnapshot(loaded.metadata)?.summary;
    const epoch = summaryEpoch(summary) ?? 0;
    const committedLsn = summaryLsn(summary) ?? parseLsnText(current.value.tables[identifier]!.committed_lsn);
    const spoolDir = join(spoolRoot(options.config), encodeURIComponent(identifier));
    if (bindSpoolToLakeTable(spoolDir, loaded.metadata['table-uuid'])) {
      options.log?.warn({ table: identifier, path: spoolDir }, 'emptied a spool left for another lake table');
    }
    const committedShape = startShape(spoolDir, source, loaded.metadata);
    saveCommittedShape(spoolDir, committedShape);
    const spool = new TableSpool(identifier, spoolDir, epoch, committedShape);
    const recovered = spool.recover(epoch);
    // The stream resumes after the last transaction spooled: in the columns of the newest sealed epoch, if any.
    const shape = recovered.at(-1)?.shape ?? committedShape;
    spool.reshape(shape);
    // Sealed epochs from before a crash are committed again as they are; their transactions must not be spooled a
    // second time when the server re-sends them.
    const spooledThrough = recovered.at(-1)?.lastCommitLsn ?? ZERO_LSN;
    const skipThrough = maxLsn(parseLsn(committedLsn), spooledThrough);
    const gate = lateTableGate(loaded.metadata.properties);
    const reconciled = reconciledFor(spoolDir, shape, skipThrough);
    routes.set(`${namespace}.${name}`, {
      table: identifier,
      ...routeColumns(shape),
      spool,
      skipThrough,
      ...(gate ? { gate } : {}),
      ...(reconciled ? { reconciled } : {}),
    });
    tables.push({
      table: identifier,
      epoch,
      committedLsn,
      schemaVersion: loaded.metadata['current-schema-id'],
      spoolDir,
    });
  }
  return { routes, tables };
}

/**
 * The record of a reconcile that still matters: the stream starts in the columns it brought the lake to, and the
 * slot may still send transactions from before it. Otherwise it is removed.
 */
function reconciledFor(spoolDir: string, shape: TableShape, skipThrough: bigint): ReconciledColumns | undefined {
  const reconciled = loadReconciled(spoolDir);
  if (!reconciled) return undefined;
  if (reconciled.schemaId === shape.schemaId && skipThrough < parseLsn(reconciled.atLsn)) return reconciled;
  clearReconciled(spoolDir);
  return undefined;
}

/** The gate of a table whose base was copied under a snapshot of its own (its table properties say which). */
function lateTableGate(properties: Readonly<Record<string, string>> | undefined): SnapshotGate | undefined {
  const xids = properties?.[TABLE_PROPERTY.snapshotXids];
  const lsn = properties?.[TABLE_PROPERTY.snapshotLsn];
  if (xids === undefined || lsn === undefined) return undefined;
  return SnapshotGate.committed(parseSnapshotXids(xids), parseLsn(lsn));
}
