import { InvalidIdentifierError } from '../errors.js';
import type { VersionPruning, VersionRetention } from '../retention.js';

/**
 * A catalog maps a table identifier to the table's current metadata file. Committing a table is swapping that
 * pointer, and the swap is the only place where two writers of the same table can meet: `commitTable` fails
 * with CommitConflictError unless the pointer is still the one the writer built on. The local catalog is a
 * versioned file in the warehouse; Glue's (glue.ts) is its table parameter, swapped with the table's VersionId.
 */
export interface CatalogTable {
  readonly identifier: string;
  /** Storage key of the current metadata JSON. */
  readonly metadataKey: string;
  /** Storage key of the table's root (data/ and metadata/ live below it). */
  readonly location: string;
}

export interface Catalog {
  /** Registers a new table; TableExistsError when the identifier is taken. */
  createTable(identifier: string, table: { metadataKey: string; location: string }): Promise<CatalogTable>;
  /** TableNotFoundError when absent. */
  loadTable(identifier: string): Promise<CatalogTable>;
  /** Identifiers, sorted; only those in `namespace` when given. */
  listTables(namespace?: string): Promise<string[]>;
  /** Unregisters the table (its files stay); false when it did not exist. */
  dropTable(identifier: string): Promise<boolean>;
  /** Compare-and-swap of the metadata pointer: CommitConflictError when it is no longer `expectedMetadataKey`. */
  commitTable(identifier: string, expectedMetadataKey: string, newMetadataKey: string): Promise<void>;
  /** A catalog that keeps its own history in the warehouse (the local one) drops what `retention` lets go. */
  pruneVersions?(retention: VersionRetention): Promise<VersionPruning>;
  /**
   * Catalogs that publish something derived from the pointer (the Hive tables of `catalog.type: glue`) bring it up
   * to the current pointer; true when that changed anything. `pg-cdc catalog register` calls it for every table.
   */
  refresh?(identifier: string): Promise<boolean>;
}

export interface TableIdentifier {
  readonly namespace: string;
  readonly name: string;
}

/** `namespace.name`: the namespace has no dot, the name may (PostgreSQL allows it); neither is empty. */
export function parseIdentifier(identifier: string): TableIdentifier {
  const dot = identifier.indexOf('.');
  const namespace = identifier.slice(0, dot);
  const name = identifier.slice(dot + 1);
  const unsafe = identifier.includes('/') || [...identifier].some((c) => c.charCodeAt(0) < 0x20);
  if (dot <= 0 || name === '' || unsafe) throw new InvalidIdentifierError(identifier);
  return { namespace, name };
}
