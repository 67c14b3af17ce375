import { casConflicts, catalogCommits, timeStage } from '../../core/metrics/index.js';
import { CommitConflictError } from '../errors.js';
import type { Catalog } from './index.js';

/**
 * The catalog every caller gets from `openLake`: each commit (a metadata pointer swap, the moment a snapshot becomes
 * visible) is timed as the `catalog_commit` sink stage and counted; one lost to another writer is a compare-and-swap
 * conflict. Behaviour is the wrapped catalog's, unchanged.
 */
const wrapped = new WeakMap<Catalog, Catalog>();

/** The catalog an instrumented one wraps (itself when it is not instrumented): which kind `openLake` chose. */
export const catalogBehind = (catalog: Catalog): Catalog => wrapped.get(catalog) ?? catalog;

export function instrumentCatalog(catalog: Catalog): Catalog {
  // Optional capabilities (pruning old versions, refreshing derived tables) pass through as they are.
  const pruneVersions = catalog.pruneVersions?.bind(catalog);
  const refresh = catalog.refresh?.bind(catalog);
  const instrumented: Catalog = {
    ...(pruneVersions ? { pruneVersions } : {}),
    ...(refresh ? { refresh } : {}),
    createTable: (identifier, table) => catalog.createTable(identifier, table),
    loadTable: (identifier) => catalog.loadTable(identifier),
    listTables: (namespace) => catalog.listTables(namespace),
    dropTable: (identifier) => catalog.dropTable(identifier),
    async commitTable(identifier, expected, next) {
      try {
        await timeStage('catalog_commit', () => catalog.commitTable(identifier, expected, next));
      } catch (error) {
        if (error instanceof CommitConflictError) casConflicts.inc({ kind: 'catalog' });
        throw error;
      }
      catalogCommits.inc();
    },
  };
  wrapped.set(instrumented, catalog);
  return instrumented;
}
