/**
 * The walk over DuckDB's serialized parse tree (json_serialize_sql). Every node kind, key and function must be one
 * this file knows; anything else is refused, so a feature DuckDB adds later is refused until it is looked at. What
 * passes names tables only as `"schema"."table"` pairs or CTE names in scope, which the walk returns.
 */
import { invalid } from './errors.js';
import { isAllowedFunction } from './sql-functions.js';

/** A table reference as written: `schema` is '' when unqualified. */
export interface TableReference {
  readonly schema: string;
  readonly table: string;
}

export const SQL_HINT =
  'write one SELECT over your tables as "schema"."table", with ordinary functions; table functions, files, ' +
  'settings, system catalogs and every other statement are refused';

export const refuse = (reason: string) => invalid(`the SQL is refused: ${reason}`, SQL_HINT);

type Node = Record<string, unknown>;
const isNode = (value: unknown): value is Node => typeof value === 'object' && value !== null && !Array.isArray(value);
const isEmpty = (value: unknown): boolean =>
  value === null ||
  value === false ||
  value === '' ||
  (Array.isArray(value) && value.length === 0) ||
  (isNode(value) && Object.values(value).every(isEmpty));

/**
 * DuckDB plans before a query can be interrupted, and planning grows fast with nested subqueries and joins (22
 * nested scalar subqueries take seconds, 50 never finish): these bounds keep planning to well under a second.
 */
export const SQL_LIMITS = { nesting: 12, subqueries: 64, tableReferences: 16 } as const;

/** Walks one statement; `scope` holds the CTE names (lower case) an unqualified reference may name. */
export class Walker {
  readonly tables: TableReference[] = [];
  private depth = 0;
  private statements = 0;
  private references = 0;

  /** Every key of `node` must be in `known` or hold nothing; returns the node for the caller to read. */
  private keys(node: unknown, known: readonly string[], what: string): Node {
    if (!isNode(node)) throw refuse(`unexpected ${what}`);
    for (const [key, value] of Object.entries(node)) {
      if (!known.includes(key) && key !== 'alias' && key !== 'query_location' && !isEmpty(value)) {
        throw refuse(`${what} uses an unsupported feature (${key})`);
      }
    }
    return node;
  }

  private strings(value: unknown, what: string): void {
    const ok = (v: unknown): boolean =>
      typeof v === 'string' || (Array.isArray(v) && v.every(ok)) || (isNode(v) && Object.values(v).every(ok));
    if (value !== undefined && value !== null && !ok(value)) throw refuse(`unexpected content in ${what}`);
  }

  statement(statement: unknown, scope: ReadonlySet<string>): void {
    const node = this.keys(statement, ['node', 'named_param_map'], 'statement');
    if (!isEmpty(node.named_param_map)) throw refuse('parameters ($1, ?) are not accepted; write values inline');
    if (++this.statements > SQL_LIMITS.subqueries + 1) {
      throw refuse(`it has more than ${SQL_LIMITS.subqueries} subqueries and WITH queries`);
    }
    if (++this.depth > SQL_LIMITS.nesting) throw refuse(`subqueries are nested more than ${SQL_LIMITS.nesting} deep`);
    this.query(node.node, scope);
    this.depth--;
  }

  /**
   * A CTE body sees the CTEs before it (and those of enclosing queries), never itself or later ones: DuckDB binds
   * such a name to a catalog object, so it must stay a table reference here. The query after WITH sees them all.
   */
  private ctes(cteMap: unknown, scope: ReadonlySet<string>): ReadonlySet<string> {
    if (cteMap === undefined || cteMap === null) return scope;
    const entries = this.keys(cteMap, ['map'], 'WITH clause').map;
    if (!Array.isArray(entries)) throw refuse('unexpected WITH clause');
    const inner = new Set(scope);
    for (const entry of entries) {
      const { key: name, value } = this.keys(entry, ['key', 'value'], 'WITH clause');
      if (typeof name !== 'string') throw refuse('unexpected WITH clause');
      const cte = this.keys(value, ['aliases', 'query', 'materialized', 'key_targets'], 'WITH clause');
      this.strings(cte.aliases, 'WITH clause');
      this.exprs(cte.key_targets, inner);
      this.statement(cte.query, new Set(inner));
      inner.add(name.toLowerCase());
    }
    return inner;
  }

  private query(value: unknown, outer: ReadonlySet<string>): void {
    const type = isNode(value) ? value.type : undefined;
    if (type === 'SELECT_NODE') {
      const node = this.keys(value, SELECT_KEYS, 'SELECT');
      const scope = this.ctes(node.cte_map, outer);
      this.modifiers(node.modifiers, scope);
      this.exprs(node.select_list, scope);
      this.from(node.from_table, scope);
      for (const key of ['where_clause', 'having', 'qualify'] as const) this.expr(node[key], scope);
      this.exprs(node.group_expressions, scope);
      const sets = node.group_sets;
      if (sets != null && !(Array.isArray(sets) && sets.every((s) => Array.isArray(s) && s.every(Number.isInteger)))) {
        throw refuse('unexpected GROUP BY');
      }
      if (node.aggregate_handling != null && typeof node.aggregate_handling !== 'string')
        throw refuse('unexpected GROUP BY');
      if (!isEmpty(node.sample)) throw refuse('USING SAMPLE / TABLESAMPLE is not supported');
      return;
    }
    if (type === 'SET_OPERATION_NODE') {
      const node = this.keys(
        value,
        ['type', 'modifiers', 'cte_map', 'setop_type', 'left', 'right', 'setop_all', 'children'],
        'set operation',
      );
      const scope = this.ctes(node.cte_map, outer);
      this.modifiers(node.modifiers, scope);
      for (const child of [
        node.left,
        node.right,
        ...(Array.isArray(node.children) ? (node.children as unknown[]) : []),
      ]) {
        if (child !== undefined && child !== null) this.query(child, scope);
      }
      return;
    }
    if (type === 'RECURSIVE_CTE_NODE') {
      const node = this.keys(
        value,
        ['type', 'modifiers', 'cte_map', 'cte_name', 'union_all', 'left', 'right', 'aliases', 'key_targets'],
        'recursive WITH',
      );
      // Only the recursive part refers to the CTE itself; in the anchor, the name is whatever the catalog has.
      const scope = this.ctes(node.cte_map, outer);
      if (typeof node.cte_name !== 'string') throw refuse('unexpected recursive WITH');
      const recursive = new Set(scope).add(node.cte_name.toLowerCase());
      this.modifiers(node.modifiers, scope);
      this.strings(node.aliases, 'recursive WITH');
      this.exprs(node.key_targets, recursive);
      this.query(node.left, scope);
      this.query(node.right, recursive);
      return;
    }
    throw refuse(`only SELECT queries are accepted (found ${typeof type === 'string' ? type : 'something else'})`);
  }

  private modifiers(list: unknown, scope: ReadonlySet<string>): void {
    if (list === undefined || list === null) return;
    if (!Array.isArray(list)) throw refuse('unexpected query modifiers');
    for (const modifier of list) {
      const type = isNode(modifier) ? modifier.type : undefined;
      if (type === 'LIMIT_MODIFIER' || type === 'LIMIT_PERCENT_MODIFIER') {
        const node = this.keys(modifier, ['type', 'limit', 'offset'], 'LIMIT');
        this.expr(node.limit, scope);
        this.expr(node.offset, scope);
      } else if (type === 'ORDER_MODIFIER') {
        this.orders(this.keys(modifier, ['type', 'orders'], 'ORDER BY').orders, scope);
      } else if (type === 'DISTINCT_MODIFIER') {
        this.exprs(this.keys(modifier, ['type', 'distinct_on_targets'], 'DISTINCT').distinct_on_targets, scope);
      } else {
        throw refuse(`unsupported query modifier ${String(type)}`);
      }
    }
  }

  private orders(list: unknown, scope: ReadonlySet<string>): void {
    if (list === undefined || list === null) return;
    if (!Array.isArray(list)) throw refuse('unexpected ORDER BY');
    for (const order of list)
      this.expr(this.keys(order, ['type', 'null_order', 'expression'], 'ORDER BY').expression, scope);
  }

  private from(value: unknown, scope: ReadonlySet<string>): void {
    if (value === undefined || value === null) return;
    const type = isNode(value) ? value.type : undefined;
    switch (type) {
      case 'EMPTY':
        this.keys(value, ['type', 'sample'], 'FROM');
        return;
      case 'BASE_TABLE': {
        const node = this.keys(
          value,
          ['type', 'sample', 'schema_name', 'table_name', 'column_name_alias', 'catalog_name', 'at_clause'],
          'table reference',
        );
        const { schema_name: schema, table_name: table, catalog_name: catalog } = node;
        if (typeof schema !== 'string' || typeof table !== 'string') throw refuse('unexpected table reference');
        if (catalog !== '' && catalog !== undefined)
          throw refuse('tables are named "schema"."table", without a database');
        if (!isEmpty(node.at_clause)) throw refuse('AT (VERSION => …) is not supported; read at a ref instead');
        if (!isEmpty(node.sample)) throw refuse('TABLESAMPLE is not supported');
        this.strings(node.column_name_alias, 'table alias');
        if (++this.references > SQL_LIMITS.tableReferences) {
          throw refuse(`it reads more than ${SQL_LIMITS.tableReferences} tables`);
        }
        if (schema !== '' || !scope.has(table.toLowerCase())) this.tables.push({ schema, table });
        return;
      }
      case 'JOIN': {
        const node = this.keys(
          value,
          ['type', 'sample', 'left', 'right', 'condition', 'join_type', 'ref_type', 'using_columns', 'delim_flipped'],
          'JOIN',
        );
        this.strings(node.using_columns, 'JOIN … USING');
        this.from(node.left, scope);
        this.from(node.right, scope);
        this.expr(node.condition, scope);
        return;
      }
      case 'SUBQUERY': {
        const node = this.keys(value, ['type', 'sample', 'subquery', 'column_name_alias'], 'subquery');
        this.strings(node.column_name_alias, 'subquery alias');
        this.statement(node.subquery, scope);
        return;
      }
      case 'EXPRESSION_LIST': {
        const node = this.keys(value, ['type', 'sample', 'expected_names', 'expected_types', 'values'], 'VALUES');
        this.strings(node.expected_names, 'VALUES');
        if (!isEmpty(node.expected_types)) throw refuse('unexpected VALUES types');
        if (!Array.isArray(node.values)) throw refuse('unexpected VALUES');
        for (const row of node.values) this.exprs(row, scope);
        return;
      }
      case 'TABLE_FUNCTION':
        throw refuse('table functions (read_csv, read_parquet, glob, …) are not allowed in FROM');
      default:
        throw refuse(`unsupported FROM item (${typeof type === 'string' ? type : 'unknown'})`);
    }
  }

  private exprs(list: unknown, scope: ReadonlySet<string>): void {
    if (list === undefined || list === null) return;
    if (!Array.isArray(list)) throw refuse('unexpected expression list');
    for (const item of list) this.expr(item, scope);
  }

  private function(node: Node, what: string): void {
    const name = node.function_name;
    if (typeof name !== 'string') throw refuse(`unexpected ${what}`);
    if (!isAllowedFunction(name)) throw refuse(`function ${name}() is not allowed`);
    const schema = node.schema ?? '';
    if ((schema !== '' && schema !== 'main') || !isEmpty(node.catalog)) {
      throw refuse(`functions are called by their plain name: ${name}(), without a schema or database`);
    }
  }

  expr(value: unknown, scope: ReadonlySet<string>): void {
    if (value === undefined || value === null) return;
    const cls = isNode(value) ? value.class : undefined;
    const sub = (node: Node, ...keys: string[]) => keys.forEach((k) => this.expr(node[k], scope));
    switch (cls) {
      case 'COLUMN_REF':
        this.strings(this.keys(value, ['class', 'type', 'column_names'], 'column').column_names, 'column');
        return;
      case 'CONSTANT':
        this.keys(value, ['class', 'type', 'value'], 'constant');
        return;
      case 'POSITIONAL_REFERENCE':
        this.keys(value, ['class', 'type', 'index'], 'positional reference');
        return;
      case 'FUNCTION': {
        const node = this.keys(value, FUNCTION_KEYS, 'function call');
        this.function(node, 'function call');
        if (!isEmpty(node.export_state)) throw refuse('EXPORT_STATE is not supported');
        this.exprs(node.children, scope);
        this.expr(node.filter, scope);
        if (node.order_bys !== undefined && node.order_bys !== null) this.modifiers([node.order_bys], scope);
        return;
      }
      case 'WINDOW': {
        const node = this.keys(value, WINDOW_KEYS, 'window function');
        this.function(node, 'window function');
        for (const key of ['children', 'partitions'] as const) this.exprs(node[key], scope);
        this.orders(node.orders, scope);
        this.orders(node.arg_orders, scope);
        sub(node, 'start_expr', 'end_expr', 'offset_expr', 'default_expr', 'filter_expr');
        return;
      }
      case 'COMPARISON':
        sub(this.keys(value, ['class', 'type', 'left', 'right'], 'comparison'), 'left', 'right');
        return;
      case 'CONJUNCTION':
      case 'OPERATOR':
        this.exprs(this.keys(value, ['class', 'type', 'children'], 'operator').children, scope);
        return;
      case 'CAST':
        sub(this.keys(value, ['class', 'type', 'child', 'cast_type', 'try_cast'], 'cast'), 'child');
        return;
      case 'COLLATE':
        sub(this.keys(value, ['class', 'type', 'child', 'collation'], 'COLLATE'), 'child');
        return;
      case 'BETWEEN':
        sub(this.keys(value, ['class', 'type', 'input', 'lower', 'upper'], 'BETWEEN'), 'input', 'lower', 'upper');
        return;
      case 'CASE': {
        const node = this.keys(value, ['class', 'type', 'case_checks', 'else_expr'], 'CASE');
        if (!Array.isArray(node.case_checks)) throw refuse('unexpected CASE');
        for (const check of node.case_checks)
          sub(this.keys(check, ['when_expr', 'then_expr'], 'CASE'), 'when_expr', 'then_expr');
        sub(node, 'else_expr');
        return;
      }
      case 'LAMBDA':
        sub(this.keys(value, ['class', 'type', 'lhs', 'expr'], 'lambda'), 'lhs', 'expr');
        return;
      case 'STAR': {
        const node = this.keys(value, STAR_KEYS, '*');
        for (const key of ['relation_name', 'exclude_list', 'qualified_exclude_list', 'rename_list'] as const) {
          this.strings(node[key], '*');
        }
        if (node.replace_list !== undefined && node.replace_list !== null) {
          if (!Array.isArray(node.replace_list)) throw refuse('unexpected * REPLACE');
          for (const item of node.replace_list) sub(this.keys(item, ['key', 'value'], '* REPLACE'), 'value');
        }
        sub(node, 'expr');
        return;
      }
      case 'SUBQUERY': {
        const node = this.keys(
          value,
          ['class', 'type', 'subquery_type', 'subquery', 'child', 'comparison_type'],
          'subquery',
        );
        this.statement(node.subquery, scope);
        sub(node, 'child');
        return;
      }
      case 'PARAMETER':
        throw refuse('parameters ($1, ?) are not accepted; write values inline');
      default:
        throw refuse(`unsupported expression (${typeof cls === 'string' ? cls : 'unknown'})`);
    }
  }
}

const SELECT_KEYS =
  'type modifiers cte_map select_list from_table where_clause group_expressions group_sets aggregate_handling having sample qualify'.split(
    ' ',
  );
const FUNCTION_KEYS =
  'class type function_name schema catalog children filter order_bys distinct is_operator export_state'.split(' ');
const WINDOW_KEYS =
  'class type function_name schema catalog children partitions orders start end start_expr end_expr offset_expr default_expr ignore_nulls filter_expr exclude_clause distinct arg_orders'.split(
    ' ',
  );
const STAR_KEYS =
  'class type relation_name exclude_list replace_list columns expr qualified_exclude_list rename_list'.split(' ');
