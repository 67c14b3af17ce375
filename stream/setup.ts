import { join } from 'node:path';
import type pg from 'pg';
import type { PgCdcConfig } from '../core/config/index.js';
import type { Logger } from '../core/log/index.js';
import { PgCdcError } from '../core/errors/index.js';
import { maxLsn, parseLsn, parseLsnText, ZERO_LSN, type LsnText } from '../core/lsn/index.js';
import { planTable } from '../core/types/index.js';
import { parseIdentifier, type Catalog } from '../lake/catalog/index.js';
import { summaryEpoch, summaryLsn } from '../lake/contract/index.js';
import { currentSchema } from '../lake/iceberg/metadata.js';
import { headSnapshot } from '../lake/iceberg/refs.js';
import { loadTableMetadata } from '../lake/iceberg/table.js';
import type { ManifestStore } from '../lake/manifest.js';
import type { ObjectStore } from '../lake/storage/index.js';
import { readTableColumns } from '../source/columns.js';
import { identityOf, SchemaChangedError, type TableRoute } from './routes.js';
import { bindSpoolToLakeTable, saveSpooledSource } from './spool-files.js';
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
 * Everything the stream needs per table, from the lake (what is committed) and the source (what the columns are
 * now). A table whose columns no longer match its Iceberg schema stops the start with SCHEMA_CHANGED.
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
    const { namespace, name } = parseIdentifier(identifier);
    const source = await readTableColumns(options.client, namespace, name);
    const plan = planTable(source);
    const loaded = await loadTableMetadata(options.store, options.catalog, identifier);
    const lakeFields = currentSchema(loaded.metadata).fields.map((f) => `${f.name}:${JSON.stringify(f.type)}`);
    const planFields = plan.schema.fields.map((f) => `${f.name}:${JSON.stringify(f.type)}`);
    if (lakeFields.join('|') !== planFields.join('|')) {
      throw new SchemaChangedError(identifier, `lake (${lakeFields.join(', ')}) vs source (${planFields.join(', ')})`);
    }
    const summary = headSnapshot(loaded.metadata)?.summary;
    const epoch = summaryEpoch(summary) ?? 0;
    const committedLsn = summaryLsn(summary) ?? parseLsnText(current.value.tables[identifier]!.committed_lsn);
    const spoolDir = join(spoolRoot(options.config), encodeURIComponent(identifier));
    if (bindSpoolToLakeTable(spoolDir, loaded.metadata['table-uuid'])) {
      options.log?.warn({ table: identifier, path: spoolDir }, 'emptied a spool left for another lake table');
    }
    const spool = new TableSpool(identifier, spoolDir, epoch);
    saveSpooledSource(spoolDir, source);
    const recovered = spool.recover(epoch);
    // Sealed epochs from before a crash are committed again as they are; their transactions must not be spooled a
    // second time when the server re-sends them.
    const spooledThrough = recovered.at(-1)?.lastCommitLsn ?? ZERO_LSN;
    const { identity, identityKind } = identityOf(source);
    routes.set(`${namespace}.${name}`, {
      table: identifier,
      source,
      plan,
      spool,
      identity,
      identityKind,
      skipThrough: maxLsn(parseLsn(committedLsn), spooledThrough),
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
