import type { DuckDBConnection } from '@duckdb/node-api';
import { sameFields } from '../../core/types/evolution.js';
import type { IcebergSchema } from '../../core/types/iceberg.js';
import type { Catalog } from '../catalog/index.js';
import { changelogIdentifier, changelogSchema } from '../contract/index.js';
import { TableNotFoundError } from '../errors.js';
import { currentSchema } from '../iceberg/metadata.js';
import { withSchema } from '../iceberg/schema.js';
import { commitMetadata, loadTableMetadata, type LoadedTable } from '../iceberg/table.js';
import type { ObjectStore } from '../storage/index.js';
import { fillNewFields } from './fill.js';
import type { ChangeCodec } from './types.js';

/**
 * Brings a state table and its changelog to `schema` (the columns an epoch's rows were written with) before the
 * epoch is committed: each gets the schema as a new version, committed as metadata of its own (no snapshot). The
 * changelog's follows from the state's (lake/contract/changelog-schema.ts), so the two stay paired by id. Either
 * step is skipped when its table already has those fields: a retried epoch finds the work done. Fields the rows
 * already there need values for (an added column's default, a retyped column) are filled first (fill.ts).
 */
export async function evolveToSchema(
  store: ObjectStore,
  catalog: Catalog,
  state: LoadedTable,
  schema: IcebergSchema,
  fill?: { readonly connection: DuckDBConnection; readonly codec: ChangeCodec },
): Promise<{ state: LoadedTable; evolved: boolean }> {
  if (sameFields(currentSchema(state.metadata), schema)) return { state, evolved: false };
  let changes: LoadedTable | undefined;
  try {
    changes = await loadTableMetadata(store, catalog, changelogIdentifier(state.identifier));
  } catch (error) {
    // The changelog is created by the first epoch that has one, with the state schema of that time.
    if (!(error instanceof TableNotFoundError)) throw error;
  }
  const changesSchema = changelogSchema(schema);
  if (changes && !sameFields(currentSchema(changes.metadata), changesSchema)) {
    await commitMetadata(store, catalog, changes, withSchema(changes.metadata, changesSchema));
  }
  const fills = fill?.codec.fills ?? [];
  const filled =
    fill && fills.length > 0
      ? await fillNewFields(store, catalog, fill.connection, state, schema, fill.codec, fills)
      : state;
  const evolved = await commitMetadata(store, catalog, filled, withSchema(filled.metadata, schema));
  return { state: evolved, evolved: true };
}
