import { z } from 'zod';
import { CommitConflictError, TableExistsError, TableNotFoundError } from '../errors.js';
import type { JsonValue } from '../json.js';
import { pruneVersions, type VersionPruning, type VersionRetention } from '../retention.js';
import type { ObjectStore } from '../storage/index.js';
import { validateKey } from '../storage/keys.js';
import { VersionedDocument } from '../versioned.js';
import { parseIdentifier, type Catalog, type CatalogTable } from './index.js';

const catalogDocumentSchema = z.object({
  format_version: z.literal(1),
  tables: z.record(z.string(), z.object({ metadata_key: z.string().min(1), location: z.string().min(1) })),
});

export type LocalCatalogDocument = z.infer<typeof catalogDocumentSchema>;

const EMPTY: LocalCatalogDocument = { format_version: 1, tables: {} };

export interface LocalCatalogOptions {
  /** Where the catalog's versions live in the warehouse. Default `_catalog`. */
  readonly prefix?: string;
  /** Commits retried when only other tables changed in between. Default 64. */
  readonly retries?: number;
}

/**
 * The catalog as one versioned document in the warehouse. Every table shares it, so a commit to one table can
 * lose the race to a commit of another; that is not a conflict for the writer (its table is unchanged) and is
 * retried here with the pointer re-checked. Only a moved pointer of the writer's own table is reported.
 */
export class LocalCatalog implements Catalog {
  private readonly doc: VersionedDocument<LocalCatalogDocument>;
  private readonly retries: number;

  constructor(store: ObjectStore, options: LocalCatalogOptions = {}) {
    this.doc = new VersionedDocument(store, options.prefix ?? '_catalog', (raw: JsonValue) =>
      catalogDocumentSchema.parse(raw),
    );
    this.retries = options.retries ?? 64;
  }

  async createTable(identifier: string, table: { metadataKey: string; location: string }): Promise<CatalogTable> {
    parseIdentifier(identifier);
    validateKey(table.metadataKey);
    validateKey(table.location);
    await this.doc.update(
      (current) => {
        const doc = current?.value ?? EMPTY;
        const existing = doc.tables[identifier];
        if (existing) throw new TableExistsError(identifier, existing.metadata_key);
        const entry = { metadata_key: table.metadataKey, location: table.location };
        return { ...doc, tables: { ...doc.tables, [identifier]: entry } };
      },
      { retries: this.retries },
    );
    return { identifier, ...table };
  }

  async loadTable(identifier: string): Promise<CatalogTable> {
    parseIdentifier(identifier);
    const entry = (await this.doc.read())?.value.tables[identifier];
    if (!entry) throw new TableNotFoundError(identifier);
    return { identifier, metadataKey: entry.metadata_key, location: entry.location };
  }

  async listTables(namespace?: string): Promise<string[]> {
    const tables = Object.keys((await this.doc.read())?.value.tables ?? {});
    return tables.filter((id) => namespace === undefined || parseIdentifier(id).namespace === namespace).sort();
  }

  async dropTable(identifier: string): Promise<boolean> {
    parseIdentifier(identifier);
    const current = await this.doc.read();
    if (!current?.value.tables[identifier]) return false;
    let dropped = false;
    await this.doc.update(
      (latest) => {
        const tables = { ...latest?.value.tables };
        dropped = identifier in tables;
        delete tables[identifier];
        return { format_version: 1, tables };
      },
      { retries: this.retries },
    );
    return dropped;
  }

  /** Old versions name old metadata pointers, which nothing reads: count and age alone keep them. */
  pruneVersions(retention: VersionRetention): Promise<VersionPruning> {
    return pruneVersions(this.doc, retention);
  }

  async commitTable(identifier: string, expectedMetadataKey: string, newMetadataKey: string): Promise<void> {
    parseIdentifier(identifier);
    validateKey(newMetadataKey);
    // The check runs inside the update function, so it is repeated against every re-read: a retry after another
    // table's commit can never overwrite a pointer that moved meanwhile.
    await this.doc.update(
      (current) => {
        const entry = current?.value.tables[identifier];
        if (!current || !entry) throw new TableNotFoundError(identifier);
        if (entry.metadata_key !== expectedMetadataKey) {
          throw new CommitConflictError(`table ${identifier} was committed by another writer`, {
            table: identifier,
            expected: expectedMetadataKey,
            actual: entry.metadata_key,
          });
        }
        const tables = { ...current.value.tables, [identifier]: { ...entry, metadata_key: newMetadataKey } };
        return { ...current.value, tables };
      },
      { retries: this.retries },
    );
  }
}
