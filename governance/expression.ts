/**
 * Tag expressions: what a role's `grant` says it may read. The grammar, smallest that covers real grants:
 *
 *   expression  := disjunction
 *   disjunction := conjunction { "or" conjunction }
 *   conjunction := negation { "and" negation }
 *   negation    := "not" negation | primary
 *   primary     := "(" expression ")" | "has" key
 *                | key "=" value | key "!=" value | key "in" list | key "not" "in" list
 *   list        := "[" value { "," value } [","] "]"
 *   key, value  := word | quoted
 *   word        := one or more of  A-Z a-z 0-9 _ - . : / @ +   (not a keyword)
 *   quoted      := '...' or "..." (the quote doubled inside: 'it''s')
 *
 * Keywords (`and or not in has`) are case-insensitive; a key or value spelled like one is quoted. `and` binds
 * tighter than `or`. A comparison on a key the resource does not carry is false, `!=` and `not in` included, so
 * `sensitivity != pii` never admits an unclassified resource; `not (...)` negates a whole sub-expression.
 */
import { GovernanceError } from './errors.js';
import type { Tags } from './tags.js';

export type TagExpression =
  | { readonly op: 'and' | 'or'; readonly terms: readonly TagExpression[] }
  | { readonly op: 'not'; readonly term: TagExpression }
  | { readonly op: 'eq' | 'ne'; readonly key: string; readonly value: string }
  | { readonly op: 'in' | 'not-in'; readonly key: string; readonly values: readonly string[] }
  | { readonly op: 'has'; readonly key: string };

export const EXPRESSION_SYNTAX =
  'comparisons key = value, key != value, key in [a, b], key not in [a, b], has key; ' +
  'combined with and, or, not and parentheses, e.g. "domain = sales and sensitivity in [public, internal]"';

export class TagExpressionError extends GovernanceError {
  /** 1-based character position of the offending token in the expression. */
  readonly position: number;
  readonly reason: string;
  readonly expression: string;

  constructor(expression: string, position: number, reason: string) {
    super('GRANT_EXPRESSION_INVALID', `${reason} at position ${position} of ${JSON.stringify(expression)}`, {
      context: { position },
      hint: `write ${EXPRESSION_SYNTAX}`,
    });
    this.position = position;
    this.reason = reason;
    this.expression = expression;
  }
}

type TokenType = 'word' | 'string' | 'keyword' | '(' | ')' | '[' | ']' | ',' | '=' | '!=' | 'end';

interface Token {
  readonly type: TokenType;
  readonly text: string;
  /** 0-based offset in the expression. */
  readonly start: number;
}

const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'has']);
const WORD = /[A-Za-z0-9_\-.:/@+]/;

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const fail = (at: number, reason: string): never => {
    throw new TagExpressionError(source, at + 1, reason);
  };
  let i = 0;
  while (i < source.length) {
    const ch = source[i]!;
    if (/\s/.test(ch)) {
      i++;
    } else if ('()[],='.includes(ch)) {
      tokens.push({ type: ch as TokenType, text: ch, start: i });
      i++;
    } else if (ch === '!') {
      if (source[i + 1] !== '=') fail(i, 'expected "!=" (a lone "!" is not an operator; use not)');
      tokens.push({ type: '!=', text: '!=', start: i });
      i += 2;
    } else if (ch === '"' || ch === "'") {
      const start = i;
      let text = '';
      i++;
      for (;;) {
        if (i >= source.length) fail(start, `the quoted text opened here is not closed with ${ch}`);
        if (source[i] === ch && source[i + 1] === ch) {
          text += ch;
          i += 2;
        } else if (source[i] === ch) {
          i++;
          break;
        } else {
          text += source[i];
          i++;
        }
      }
      if (text === '') fail(start, 'a quoted key or value is empty');
      tokens.push({ type: 'string', text, start });
    } else if (WORD.test(ch)) {
      const start = i;
      while (i < source.length && WORD.test(source[i]!)) i++;
      const text = source.slice(start, i);
      const lower = text.toLowerCase();
      tokens.push(KEYWORDS.has(lower) ? { type: 'keyword', text: lower, start } : { type: 'word', text, start });
    } else {
      fail(i, `unexpected character ${JSON.stringify(ch)} (quote values that hold it)`);
    }
  }
  tokens.push({ type: 'end', text: '', start: source.length });
  return tokens;
}

const describe = (token: Token): string =>
  token.type === 'end' ? 'the end of the expression' : `${JSON.stringify(token.text)}`;

class Parser {
  private index = 0;

  constructor(
    private readonly source: string,
    private readonly tokens: readonly Token[],
  ) {}

  parse(): TagExpression {
    if (this.peek().type === 'end') this.fail(this.peek(), 'the expression is empty');
    const expression = this.disjunction();
    const rest = this.peek();
    if (rest.type !== 'end') {
      this.fail(rest, `expected "and", "or" or the end of the expression, found ${describe(rest)}`);
    }
    return expression;
  }

  private peek(): Token {
    return this.tokens[this.index]!;
  }

  private next(): Token {
    const token = this.tokens[this.index]!;
    if (token.type !== 'end') this.index++;
    return token;
  }

  private isKeyword(word: string): boolean {
    const token = this.peek();
    return token.type === 'keyword' && token.text === word;
  }

  private fail(token: Token, reason: string): never {
    throw new TagExpressionError(this.source, token.start + 1, reason);
  }

  private disjunction(): TagExpression {
    const terms = [this.conjunction()];
    while (this.isKeyword('or')) {
      this.next();
      terms.push(this.conjunction());
    }
    return terms.length === 1 ? terms[0]! : { op: 'or', terms };
  }

  private conjunction(): TagExpression {
    const terms = [this.negation()];
    while (this.isKeyword('and')) {
      this.next();
      terms.push(this.negation());
    }
    return terms.length === 1 ? terms[0]! : { op: 'and', terms };
  }

  private negation(): TagExpression {
    if (this.isKeyword('not')) {
      this.next();
      return { op: 'not', term: this.negation() };
    }
    return this.primary();
  }

  private primary(): TagExpression {
    const token = this.peek();
    if (token.type === '(') {
      this.next();
      const inner = this.disjunction();
      const close = this.next();
      if (close.type !== ')')
        this.fail(close, `expected ")" to close the "(" at position ${token.start + 1}, found ${describe(close)}`);
      return inner;
    }
    if (this.isKeyword('has')) {
      this.next();
      return { op: 'has', key: this.name('a tag key after "has"') };
    }
    const key = this.name('a tag key, "has", "not" or "("');
    const operator = this.next();
    if (operator.type === '=') return { op: 'eq', key, value: this.name('a value after "="') };
    if (operator.type === '!=') return { op: 'ne', key, value: this.name('a value after "!="') };
    if (operator.type === 'keyword' && operator.text === 'in') return { op: 'in', key, values: this.list('in') };
    if (operator.type === 'keyword' && operator.text === 'not') {
      const inKeyword = this.next();
      if (inKeyword.type !== 'keyword' || inKeyword.text !== 'in') {
        this.fail(inKeyword, `expected "in" after "${key} not", found ${describe(inKeyword)}`);
      }
      return { op: 'not-in', key, values: this.list('not in') };
    }
    return this.fail(operator, `expected =, !=, in or not in after the key "${key}", found ${describe(operator)}`);
  }

  private name(what: string): string {
    const token = this.next();
    if (token.type === 'word' || token.type === 'string') return token.text;
    if (token.type === 'keyword')
      this.fail(token, `expected ${what}, found the keyword "${token.text}" (quote it to use it as a name)`);
    return this.fail(token, `expected ${what}, found ${describe(token)}`);
  }

  private list(after: string): string[] {
    const open = this.next();
    if (open.type !== '[') this.fail(open, `expected "[" to start a list after "${after}", found ${describe(open)}`);
    const values = [this.name('a value in the list')];
    for (;;) {
      const token = this.next();
      if (token.type === ']') return values;
      if (token.type !== ',') this.fail(token, `expected "," or "]" in the list, found ${describe(token)}`);
      if (this.peek().type === ']') {
        this.next();
        return values;
      }
      values.push(this.name('a value in the list'));
    }
  }
}

/** Parse a tag expression; throws TagExpressionError naming the position and what was expected there. */
export function parseTagExpression(source: string): TagExpression {
  return new Parser(source, tokenize(source)).parse();
}

/** Does a resource with these effective tags satisfy the expression? */
export function evaluateTagExpression(expression: TagExpression, tags: Tags): boolean {
  switch (expression.op) {
    case 'and':
      return expression.terms.every((term) => evaluateTagExpression(term, tags));
    case 'or':
      return expression.terms.some((term) => evaluateTagExpression(term, tags));
    case 'not':
      return !evaluateTagExpression(expression.term, tags);
    case 'has':
      return Object.hasOwn(tags, expression.key);
    case 'eq':
      return Object.hasOwn(tags, expression.key) && tags[expression.key] === expression.value;
    case 'ne':
      return Object.hasOwn(tags, expression.key) && tags[expression.key] !== expression.value;
    case 'in':
      return Object.hasOwn(tags, expression.key) && expression.values.includes(tags[expression.key]!);
    case 'not-in':
      return Object.hasOwn(tags, expression.key) && !expression.values.includes(tags[expression.key]!);
  }
}

const quoteName = (name: string): string =>
  /^[A-Za-z0-9_\-.:/@+]+$/.test(name) && !KEYWORDS.has(name.toLowerCase()) ? name : `'${name.replace(/'/g, "''")}'`;

/** Canonical text: the same expression always prints the same way, and parses back to itself. */
export function formatTagExpression(expression: TagExpression, parent?: 'and' | 'or' | 'not'): string {
  switch (expression.op) {
    case 'and':
    case 'or': {
      const text = expression.terms.map((term) => formatTagExpression(term, expression.op)).join(` ${expression.op} `);
      return parent === undefined || (parent === 'or' && expression.op === 'and') ? text : `(${text})`;
    }
    case 'not':
      return `not ${formatTagExpression(expression.term, 'not')}`;
    case 'has':
      return `has ${quoteName(expression.key)}`;
    case 'eq':
      return `${quoteName(expression.key)} = ${quoteName(expression.value)}`;
    case 'ne':
      return `${quoteName(expression.key)} != ${quoteName(expression.value)}`;
    case 'in':
    case 'not-in':
      return `${quoteName(expression.key)} ${expression.op === 'in' ? 'in' : 'not in'} [${expression.values.map(quoteName).join(', ')}]`;
  }
}

/** The tag keys an expression reads. */
export function expressionKeys(expression: TagExpression): string[] {
  const keys = new Set<string>();
  const walk = (node: TagExpression): void => {
    switch (node.op) {
      case 'and':
      case 'or':
        node.terms.forEach(walk);
        break;
      case 'not':
        walk(node.term);
        break;
      case 'has':
      case 'eq':
      case 'ne':
      case 'in':
      case 'not-in':
        keys.add(node.key);
    }
  };
  walk(expression);
  return [...keys].sort();
}
