/**
 * Which tables pg-cdc captures, and why each other table is left out. Pure: the caller reads the catalog and passes
 * the tables in, so `pg-cdc discover`, preflight and the snapshot all decide the same way.
 *
 * Resolution order: source.postgres.schemas → tables.exclude (always wins) → partitions (captured through their root)
 * → tables.include → tables.policy → whether the table can be captured at all (WAL-logged, usable replica identity).
 */
import { compileTableGlob, resolveTags, type TableMatcher, type TagRules } from './glob.js';

export {
  compileTableGlob,
  firstMatch,
  matchesTableGlob,
  resolveTags,
  type TableMatcher,
  type TagRules,
} from './glob.js';

export type ReplicaIdentity = 'default' | 'full' | 'nothing' | 'index';
export type TableKind = 'table' | 'partitioned' | 'partition';

export interface TableInfo {
  readonly schema: string;
  readonly name: string;
  readonly hasPrimaryKey: boolean;
  readonly replicaIdentity: ReplicaIdentity;
  readonly kind: TableKind;
  /** Unlogged tables write no WAL, so logical decoding never sees their changes. */
  readonly persistence?: 'permanent' | 'unlogged';
  /** For partitions: the table they are attached to. */
  readonly partitionOf?: { readonly schema: string; readonly name: string };
}

/** Structurally `config.tables`. */
export interface TableSelectionRules {
  readonly include: readonly string[];
  readonly exclude: readonly string[];
  readonly policy: 'all' | 'listed';
  readonly tags?: TagRules;
}

/** `config.tables` plus `config.source.postgres.schemas`. */
export interface SelectionInput extends TableSelectionRules {
  readonly schemas: readonly string[];
}

export type SelectionCode =
  'schema' | 'exclude' | 'partition' | 'include' | 'policy-all' | 'policy-listed' | 'unlogged' | 'replica-identity';

export interface TableDecision<T extends TableInfo = TableInfo> {
  readonly table: T;
  /** "schema.table", unquoted: what globs match against and what messages show. */
  readonly qualifiedName: string;
  readonly selected: boolean;
  readonly code: SelectionCode;
  readonly reason: string;
  /** The include or exclude pattern that decided, if one did. */
  readonly pattern?: string;
  /** Something worth knowing about a selected table (e.g. how its old rows are identified). */
  readonly note?: string;
  readonly tags: Record<string, string>;
}

export interface SelectionResult<T extends TableInfo = TableInfo> {
  readonly decisions: readonly TableDecision<T>[];
  readonly selected: readonly TableDecision<T>[];
  readonly excluded: readonly TableDecision<T>[];
}

// Keywords PostgreSQL reserves outright, plus those reserved where a type or function name may appear.
const RESERVED = new Set(
  (
    'all analyse analyze and any array as asc asymmetric authorization binary both case cast check collate ' +
    'collation column concurrently constraint create cross current_catalog current_date current_role ' +
    'current_schema current_time current_timestamp current_user default deferrable desc distinct do else end ' +
    'except false fetch for foreign freeze from full grant group having ilike in initially inner intersect into ' +
    'is isnull join lateral leading left like limit localtime localtimestamp natural not notnull null offset on ' +
    'only or order outer overlaps placing primary references returning right select session_user similar some ' +
    'symmetric system_user table tablesample then to trailing true union unique user using variadic verbose when ' +
    'where window with'
  ).split(' '),
);

/** An identifier as SQL needs it: bare when that reads back the same, double-quoted otherwise. */
export function quoteIdent(name: string): string {
  if (/^[a-z_][a-z0-9_$]*$/.test(name) && !RESERVED.has(name)) return name;
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteQualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

export function qualifiedName(table: { readonly schema: string; readonly name: string }): string {
  return `${table.schema}.${table.name}`;
}

/** Why a table that passed the rules still cannot be captured, or undefined when it can. */
function identityProblem(table: TableInfo): string | undefined {
  const sql = quoteQualified(table.schema, table.name);
  if (table.replicaIdentity === 'nothing') {
    const what = table.hasPrimaryKey ? 'REPLICA IDENTITY NOTHING' : 'no primary key and REPLICA IDENTITY NOTHING';
    const fix = table.hasPrimaryKey ? 'DEFAULT' : 'FULL';
    return `${what}: updates and deletes cannot be captured; run ALTER TABLE ${sql} REPLICA IDENTITY ${fix}${table.hasPrimaryKey ? '' : ' or add a primary key'}`;
  }
  if (table.replicaIdentity === 'default' && !table.hasPrimaryKey) {
    return `no primary key and REPLICA IDENTITY DEFAULT: updates and deletes cannot be captured; run ALTER TABLE ${sql} REPLICA IDENTITY FULL or add a primary key`;
  }
  return undefined;
}

function identityNote(table: TableInfo): string | undefined {
  if (table.replicaIdentity === 'index') return 'REPLICA IDENTITY USING INDEX: old rows are identified by that index';
  if (table.replicaIdentity === 'full' && !table.hasPrimaryKey) {
    return 'no primary key; REPLICA IDENTITY FULL: whole old rows are logged and rows are matched on every column';
  }
  return undefined;
}

interface Verdict {
  selected: boolean;
  code: SelectionCode;
  reason: string;
  pattern?: string;
}

export function selectTables<T extends TableInfo>(tables: readonly T[], input: SelectionInput): SelectionResult<T> {
  const schemas = new Set(input.schemas);
  const include = input.include.map(compileTableGlob);
  const exclude = input.exclude.map(compileTableGlob);
  const find = (matchers: TableMatcher[], t: TableInfo) => matchers.find((m) => m.matches(t.schema, t.name))?.pattern;

  const decide = (table: T): Verdict => {
    if (!schemas.has(table.schema)) {
      return { selected: false, code: 'schema', reason: `schema "${table.schema}" is not in source.postgres.schemas` };
    }
    const excludedBy = find(exclude, table);
    if (excludedBy !== undefined) {
      return {
        selected: false,
        code: 'exclude',
        reason: `matches tables.exclude "${excludedBy}"`,
        pattern: excludedBy,
      };
    }
    if (table.kind === 'partition' && table.partitionOf) {
      const parent = qualifiedName(table.partitionOf);
      const reason = `partition of ${parent}: its changes are captured through ${parent}; select that table instead`;
      return { selected: false, code: 'partition', reason };
    }
    const includedBy = find(include, table);
    let verdict: Verdict;
    if (includedBy !== undefined) {
      verdict = {
        selected: true,
        code: 'include',
        reason: `matches tables.include "${includedBy}"`,
        pattern: includedBy,
      };
    } else if (input.policy === 'listed') {
      return {
        selected: false,
        code: 'policy-listed',
        reason: 'policy "listed" and no tables.include pattern matches',
      };
    } else {
      verdict = {
        selected: true,
        code: 'policy-all',
        reason: 'policy "all" captures every table in the listed schemas',
      };
    }
    if (table.persistence === 'unlogged') {
      const sql = quoteQualified(table.schema, table.name);
      const reason = `UNLOGGED table: its changes are not written to the WAL and cannot be captured; run ALTER TABLE ${sql} SET LOGGED`;
      return { selected: false, code: 'unlogged', reason, ...(verdict.pattern ? { pattern: verdict.pattern } : {}) };
    }
    const problem = identityProblem(table);
    if (problem) {
      return {
        selected: false,
        code: 'replica-identity',
        reason: problem,
        ...(verdict.pattern ? { pattern: verdict.pattern } : {}),
      };
    }
    return verdict;
  };

  const decisions = tables.map((table): TableDecision<T> => {
    const verdict = decide(table);
    const note = verdict.selected ? identityNote(table) : undefined;
    return {
      table,
      qualifiedName: qualifiedName(table),
      ...verdict,
      ...(note ? { note } : {}),
      tags: resolveTags(input.tags, table.schema, table.name),
    };
  });
  return {
    decisions,
    selected: decisions.filter((d) => d.selected),
    excluded: decisions.filter((d) => !d.selected),
  };
}

/**
 * Tables the rules picked that cannot be captured because of their replica identity: the ones preflight warns about
 * by name, since the user most likely meant to capture them.
 */
export function identityBlocked<T extends TableInfo>(result: SelectionResult<T>): readonly TableDecision<T>[] {
  return result.excluded.filter((d) => d.code === 'replica-identity');
}
