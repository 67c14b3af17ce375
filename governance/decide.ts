/**
 * One access decision, computed from a snapshot of the registry: pure, so it is tested without SQLite.
 *
 * A column is visible to a role when its effective tags (its own over its table's over its database's) are not empty
 * and satisfy the role's grant, or when an active break-glass grant covers it. A table is visible when at least one
 * of its columns is. The changelog `<t>__changes` follows `<t>` by the lake contract's rule
 * (`visibleChangelogColumns`): its row columns as `<t>`'s columns are decided, its metadata columns with `<t>`.
 */
import {
  changelogSourceColumns,
  isChangelogIdentifier,
  stateIdentifierOf,
  visibleChangelogColumns,
} from '../lake/contract/index.js';
import type { BreakGlassGrant } from './grants.js';
import { evaluateTagExpression } from './expression.js';
import { isHiddenNewColumn } from './new-columns.js';
import { parseResource, splitLakeIdentifier, type Resource } from './resource.js';
import type { CompiledRole } from './roles.js';
import { isEmptyTags, mergeTags, type Tags } from './tags.js';
import type { AccessDecision, LakeTableShape, TableGrant } from './types.js';

/** The own tags of one database's resources, keyed by lake identifier (`schema.table`) and column. */
export interface ClassificationIndex {
  readonly database: string;
  readonly databaseTags: Tags;
  readonly tableTags: ReadonlyMap<string, Tags>;
  readonly columnTags: ReadonlyMap<string, ReadonlyMap<string, Tags>>;
}

/** Index the registry's own tags (canonical resource text → tags) of `database`. */
export function indexClassification(database: string, ownTags: ReadonlyMap<string, Tags>): ClassificationIndex {
  let databaseTags: Tags = {};
  const tableTags = new Map<string, Tags>();
  const columnTags = new Map<string, Map<string, Tags>>();
  for (const [text, tags] of ownTags) {
    const resource = parseResource(text);
    if (resource.db !== database) continue;
    if (resource.kind === 'database') {
      databaseTags = tags;
    } else {
      const table = `${resource.schema}.${resource.table}`;
      if (resource.kind === 'table') {
        tableTags.set(table, tags);
      } else {
        const columns = columnTags.get(table) ?? new Map<string, Tags>();
        columns.set(resource.column, tags);
        columnTags.set(table, columns);
      }
    }
  }
  return { database, databaseTags, tableTags, columnTags };
}

/** Effective tags of a lake column (registered or not: it inherits either way). */
export function effectiveColumnTags(index: ClassificationIndex, table: string, column: string): Tags {
  return mergeTags(index.databaseTags, index.tableTags.get(table), index.columnTags.get(table)?.get(column));
}

/** Effective tags of a lake table: its own over its database's. */
export function effectiveTableTags(index: ClassificationIndex, table: string): Tags {
  return mergeTags(index.databaseTags, index.tableTags.get(table));
}

interface Coverage {
  readonly all: boolean;
  readonly columns: ReadonlySet<string>;
  /** Expiry of each grant that contributes, to report when the widened view ends. */
  readonly expiries: readonly string[];
}

function grantCoverage(grants: readonly BreakGlassGrant[], database: string, table: string): Coverage {
  let all = false;
  const columns = new Set<string>();
  const expiries: string[] = [];
  for (const grant of grants) {
    let resource: Resource;
    try {
      resource = parseResource(grant.resource);
    } catch {
      continue;
    }
    if (resource.db !== database) continue;
    if (resource.kind === 'database') all = true;
    else if (`${resource.schema}.${resource.table}` !== table) continue;
    else if (resource.kind === 'table') all = true;
    else columns.add(resource.column);
    expiries.push(grant.expiresAt);
  }
  return { all, columns, expiries };
}

interface BaseDecision {
  readonly visible: ReadonlySet<string>;
  readonly via: TableGrant['via'];
  readonly expiresAt?: string;
}

function decideTable(
  role: CompiledRole,
  index: ClassificationIndex,
  grants: readonly BreakGlassGrant[],
  table: string,
  columns: readonly string[],
): BaseDecision {
  const coverage = grantCoverage(grants, index.database, table);
  const visible = new Set<string>();
  let widened = false;
  for (const column of columns) {
    const tags = effectiveColumnTags(index, table, column);
    // A column added while streaming under `governance.new_columns: hidden` waits for its classification.
    const hidden = isHiddenNewColumn(index.columnTags.get(table)?.get(column));
    const byTags = !hidden && !isEmptyTags(tags) && evaluateTagExpression(role.grant, tags);
    const byGrant = coverage.all || coverage.columns.has(column);
    if (byTags || byGrant) visible.add(column);
    if (byGrant && !byTags) widened = true;
  }
  if (!widened) return { visible, via: 'tags' };
  const expiresAt = [...coverage.expiries].sort()[0];
  return { visible, via: 'break-glass', ...(expiresAt === undefined ? {} : { expiresAt }) };
}

export interface DecisionInput {
  readonly principal: string;
  readonly role: CompiledRole;
  readonly policyVersion: number;
  /** Undefined when nothing is registered yet: everything is invisible. */
  readonly index: ClassificationIndex | undefined;
  readonly lake: readonly LakeTableShape[];
  /** The principal's grants in force. */
  readonly grants: readonly BreakGlassGrant[];
}

export function decideAccess(input: DecisionInput): AccessDecision {
  const tables = new Map<string, TableGrant>();
  const { index } = input;
  const readsStaging = input.role.readsStaging;
  if (!index) return { principal: input.principal, policyVersion: input.policyVersion, tables, readsStaging };
  const shapes = new Map(input.lake.map((shape) => [shape.identifier, shape]));
  const decided = new Map<string, BaseDecision>();
  const baseColumns = (base: string, changelog?: LakeTableShape): string[] => {
    const shape = shapes.get(base);
    if (shape) return [...shape.columns];
    // No state table in the request: its columns are the ones the changelog's row columns hold.
    return changelogSourceColumns(changelog?.columns ?? []);
  };
  const decideBase = (base: string, changelog?: LakeTableShape): BaseDecision => {
    let decision = decided.get(base);
    if (!decision) {
      decision = decideTable(input.role, index, input.grants, base, baseColumns(base, changelog));
      decided.set(base, decision);
    }
    return decision;
  };
  for (const shape of input.lake) {
    if (!splitLakeIdentifier(shape.identifier)) continue;
    const isChangelog = isChangelogIdentifier(shape.identifier);
    const base = stateIdentifierOf(shape.identifier);
    const decision = decideBase(base, isChangelog ? shape : undefined);
    if (decision.visible.size === 0) continue;
    const columns = isChangelog
      ? visibleChangelogColumns(shape.columns, decision.visible, baseColumns(base, shape))
      : shape.columns.filter((c) => decision.visible.has(c));
    if (columns.length === 0) continue;
    tables.set(shape.identifier, {
      table: shape.identifier,
      columns,
      via: decision.via,
      ...(decision.expiresAt === undefined ? {} : { expiresAt: decision.expiresAt }),
    });
  }
  return { principal: input.principal, policyVersion: input.policyVersion, tables, readsStaging };
}
