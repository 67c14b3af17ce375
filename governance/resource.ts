/**
 * Governed resources: `db` (the source database), `db.schema.table` and `db.schema.table.column`. Tags inherit along
 * that chain. A name part that holds a dot or a double quote is written double-quoted, with `""` for a quote, the way
 * PostgreSQL quotes identifiers; the canonical text (what the registry stores and workflow ids carry) quotes only
 * where it must.
 */
import { ResourceInvalidError } from './errors.js';
import { hasControlCharacter } from './tags.js';

export type Resource =
  | { readonly kind: 'database'; readonly db: string }
  | { readonly kind: 'table'; readonly db: string; readonly schema: string; readonly table: string }
  | {
      readonly kind: 'column';
      readonly db: string;
      readonly schema: string;
      readonly table: string;
      readonly column: string;
    };

export type TableResource = Extract<Resource, { kind: 'table' }>;
export type ColumnResource = Extract<Resource, { kind: 'column' }>;

function splitParts(text: string): string[] {
  const parts: string[] = [];
  let part = '';
  let quoted = false;
  let wasQuoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        part += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        part += ch;
      }
    } else if (ch === '"') {
      if (part !== '') throw new ResourceInvalidError(text, `a quote may only open a name (position ${i + 1})`);
      quoted = true;
      wasQuoted = true;
    } else if (ch === '.') {
      if (part === '' && !wasQuoted) throw new ResourceInvalidError(text, `empty name before position ${i + 1}`);
      parts.push(part);
      part = '';
      wasQuoted = false;
    } else {
      if (wasQuoted) throw new ResourceInvalidError(text, `text after a closing quote (position ${i + 1})`);
      part += ch;
    }
  }
  if (quoted) throw new ResourceInvalidError(text, 'a quoted name is not closed');
  if (part === '' && !wasQuoted) throw new ResourceInvalidError(text, 'empty name at the end');
  parts.push(part);
  return parts;
}

/** Parse `db`, `db.schema.table` or `db.schema.table.column`; throws RESOURCE_INVALID otherwise. */
export function parseResource(text: string): Resource {
  const trimmed = text.trim();
  if (trimmed === '') throw new ResourceInvalidError(text, 'it is empty');
  if (hasControlCharacter(trimmed)) throw new ResourceInvalidError(text, 'it holds a control character');
  const parts = splitParts(trimmed);
  const [db, schema, table, column] = parts as [string, string?, string?, string?];
  switch (parts.length) {
    case 1:
      return { kind: 'database', db };
    case 3:
      return { kind: 'table', db, schema: schema!, table: table! };
    case 4:
      return { kind: 'column', db, schema: schema!, table: table!, column: column! };
    case 2:
      throw new ResourceInvalidError(text, 'a schema is not a resource; tag the database or each table');
    default:
      throw new ResourceInvalidError(text, `${parts.length} name parts; at most 4 (db.schema.table.column)`);
  }
}

const quotePart = (part: string): string =>
  /[."]/.test(part) || part !== part.trim() || part === '' ? `"${part.replace(/"/g, '""')}"` : part;

export function formatResource(resource: Resource): string {
  switch (resource.kind) {
    case 'database':
      return quotePart(resource.db);
    case 'table':
      return [resource.db, resource.schema, resource.table].map(quotePart).join('.');
    case 'column':
      return [resource.db, resource.schema, resource.table, resource.column].map(quotePart).join('.');
  }
}

export const databaseResource = (db: string): Resource => ({ kind: 'database', db });

export const tableResource = (db: string, schema: string, table: string): TableResource => ({
  kind: 'table',
  db,
  schema,
  table,
});

export const columnResource = (db: string, schema: string, table: string, column: string): ColumnResource => ({
  kind: 'column',
  db,
  schema,
  table,
  column,
});

/** The resources a resource inherits from, outermost first, itself last. */
export function lineage(resource: Resource): Resource[] {
  const db = databaseResource(resource.db);
  if (resource.kind === 'database') return [db];
  const table = tableResource(resource.db, resource.schema, resource.table);
  return resource.kind === 'table' ? [db, table] : [db, table, resource];
}

/** The lake identifier (`schema.table`) of a table or column resource. */
export function lakeIdentifierOf(resource: TableResource | ColumnResource): string {
  return `${resource.schema}.${resource.table}`;
}

/** Split a lake identifier `schema.table` at its first dot, as the lake names its tables. */
export function splitLakeIdentifier(identifier: string): { schema: string; table: string } | undefined {
  const dot = identifier.indexOf('.');
  if (dot <= 0 || dot === identifier.length - 1) return undefined;
  return { schema: identifier.slice(0, dot), table: identifier.slice(dot + 1) };
}

/** Does `outer` cover `inner` (the same resource, or one it inherits from)? */
export function covers(outer: Resource, inner: Resource): boolean {
  if (outer.db !== inner.db) return false;
  if (outer.kind === 'database') return true;
  if (inner.kind === 'database' || outer.schema !== inner.schema || outer.table !== inner.table) return false;
  if (outer.kind === 'table') return true;
  return inner.kind === 'column' && outer.column === inner.column;
}
