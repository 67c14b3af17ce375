/** Turns zod issues into ConfigIssues: a dotted key path, a plain message and a hint that says how to fix it. */
import type { z } from 'zod';
import type { ConfigIssue } from '../errors/index.js';
import { isRecord, type PathSegment } from './fields.js';
import { didYouMean, suggest } from './suggest.js';

/** `source.postgres.schemas[1]`; keys that are not plain words are quoted: `tables.tags["public.*"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment))
      out += out ? `.${segment}` : segment;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const segment of path) {
    if (Array.isArray(node) && typeof segment === 'number') node = node[segment];
    else if (isRecord(node) && typeof segment === 'string') node = node[segment];
    else return undefined;
  }
  return node;
}

/* ---- walking the schema to find the keys allowed at a path (for "did you mean") ---- */

interface LooseDef {
  type: string;
  shape?: Record<string, unknown>;
  innerType?: unknown;
  in?: unknown;
  out?: unknown;
  element?: unknown;
  valueType?: unknown;
  options?: unknown[];
  discriminator?: string;
  values?: unknown[];
}

const defOf = (schema: unknown): LooseDef => (schema as { _zod: { def: LooseDef } })._zod.def;
const WRAPPERS = new Set(['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch', 'nonoptional']);

/** The concrete schemas behind wrappers, pipes and unions; a discriminated union picks the option `raw` selects. */
function leaves(schema: unknown, raw: unknown, pick = true): unknown[] {
  const def = defOf(schema);
  if (WRAPPERS.has(def.type)) return leaves(def.innerType, raw, pick);
  if (def.type === 'pipe') return [...leaves(def.in, raw, pick), ...leaves(def.out, raw, pick)];
  if (def.type === 'transform') return [];
  if (def.type === 'union') {
    const options = def.options ?? [];
    const key = def.discriminator;
    if (pick && key !== undefined && isRecord(raw)) {
      // A missing discriminator selects the first option (storage.type defaults to the first, filesystem).
      const chosen =
        raw[key] === undefined
          ? options.slice(0, 1)
          : options.filter((o) => defOf(defOf(o).shape?.[key]).values?.includes(raw[key]));
      if (chosen.length > 0) return chosen.flatMap((o) => leaves(o, raw, pick));
    }
    return options.flatMap((o) => leaves(o, raw, pick));
  }
  return [schema];
}

function child(schema: unknown, segment: PropertyKey): unknown {
  const def = defOf(schema);
  if (def.type === 'object' && typeof segment === 'string') return def.shape?.[segment];
  if (def.type === 'array') return def.element;
  if (def.type === 'record') return def.valueType;
  return undefined;
}

/** Keys allowed at `path`, and keys that belong to another variant (e.g. storage `bucket` when type is filesystem). */
function keysAt(root: unknown, path: readonly PropertyKey[], input: unknown) {
  let nodes: unknown[] = [root];
  let raw = input;
  for (const segment of path) {
    nodes = nodes
      .flatMap((node) => leaves(node, raw).map((leaf) => child(leaf, segment)))
      .filter((n) => n !== undefined);
    raw = valueAt(raw, [segment]);
  }
  const shapesOf = (pick: boolean) =>
    nodes
      .flatMap((node) => leaves(node, raw, pick))
      .flatMap((leaf) => (defOf(leaf).type === 'object' ? [defOf(leaf).shape ?? {}] : []));
  const allowed = [...new Set(shapesOf(true).flatMap((shape) => Object.keys(shape)))];
  const elsewhere = new Map<string, string>();
  for (const shape of shapesOf(false)) {
    const variant = Object.entries(shape).find(([, field]) => defOf(field).type === 'literal');
    for (const key of Object.keys(shape)) {
      if (!allowed.includes(key) && variant)
        elsewhere.set(key, `${variant[0]}: ${String(defOf(variant[1]).values?.[0])}`);
    }
  }
  return { allowed, elsewhere };
}

/* ---- messages ---- */

const SECRET_KEYS = new Set(['url', 'api_key', 'sha256']);

function describe(value: unknown, path: readonly PropertyKey[]): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (isRecord(value)) return 'a mapping';
  if (typeof value === 'string') {
    if (SECRET_KEYS.has(String(path.at(-1)))) return 'a string';
    return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)}`;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return `${typeof value} ${value}`;
  }
  return typeof value;
}

const EXPECTED: Readonly<Record<string, [name: string, hint: string]>> = {
  string: ['a string', 'quote the value, e.g. "123"'],
  number: ['a number', 'write a plain number, without units'],
  boolean: ['true or false', 'write true or false'],
  array: ['a list', 'write a YAML list, e.g. ["public"] or one "- item" per line'],
  object: ['a mapping', 'write the keys indented under it (key: value)'],
  record: ['a mapping', 'write the keys indented under it (key: value)'],
};

const REQUIRED_HINTS: Readonly<Record<string, string>> = {
  'storage.bucket': 'storage.type s3 needs the bucket name, e.g. bucket: my-warehouse',
};

const listOf = (values: readonly unknown[]) => values.map((v) => JSON.stringify(v)).join(' | ');

function oneOf(values: readonly unknown[], raw: unknown, path: readonly PropertyKey[], where: string): ConfigIssue {
  if (where === 'storage.type' && raw === 'gcs') {
    return {
      path: where,
      message: 'gcs is not implemented; use filesystem or s3',
      hint: 'set storage.type: filesystem (local disk) or s3 (also S3-compatible stores, via endpoint)',
    };
  }
  if (raw === undefined) return { path: where, message: `is required: one of ${listOf(values)}` };
  const closest = typeof raw === 'string' ? didYouMean(raw, values.map(String)) : undefined;
  return {
    path: where,
    message: `expected one of ${listOf(values)}, got ${describe(raw, path)}`,
    hint: closest ?? `use one of ${listOf(values)}`,
  };
}

function translate(issue: z.core.$ZodIssue, schema: unknown, input: unknown): ConfigIssue[] {
  const path = issue.path;
  const where = formatPath(path);
  const raw = valueAt(input, path);
  switch (issue.code) {
    case 'custom': {
      const hint: unknown = issue.params?.hint;
      return [{ path: where, message: issue.message, ...(typeof hint === 'string' ? { hint } : {}) }];
    }
    case 'unrecognized_keys': {
      const { allowed, elsewhere } = keysAt(schema, path, input);
      return issue.keys.map((key) => {
        const other = elsewhere.get(key);
        const near = didYouMean(key, allowed);
        const nearElsewhere = suggest(key, [...elsewhere.keys()]);
        const hint = other
          ? `"${key}" only applies with ${other}`
          : (near ??
            (nearElsewhere
              ? `did you mean "${nearElsewhere}"? (it only applies with ${elsewhere.get(nearElsewhere)})`
              : `allowed keys here: ${allowed.join(', ')}`));
        return { path: formatPath([...path, key]), message: `unknown key "${key}"`, hint };
      });
    }
    case 'invalid_type': {
      const [name, hint] = EXPECTED[issue.expected] ?? [issue.expected, `write ${issue.expected}`];
      if (raw === undefined)
        return [{ path: where, message: `is required (${name})`, hint: REQUIRED_HINTS[where] ?? `add it` }];
      return [{ path: where, message: `expected ${name}, got ${describe(raw, path)}`, hint }];
    }
    case 'invalid_value':
      return [oneOf(issue.values, raw, path, where)];
    case 'invalid_union':
      if ('options' in issue && Array.isArray(issue.options)) return [oneOf(issue.options, raw, path, where)];
      return [{ path: where, message: issue.message }];
    case 'invalid_key':
    case 'invalid_element': {
      const inner = issue.issues.flatMap((nested) => translate(nested, schema, input));
      return inner.map((nested) => ({ ...nested, path: where }));
    }
    case 'too_small':
      if (issue.origin === 'array') {
        return [
          {
            path: where,
            message: `must have at least ${issue.minimum} item(s)`,
            hint: 'add an item, or remove the key to use the default',
          },
        ];
      }
      return [{ path: where, message: issue.message }];
    case 'too_big':
    case 'invalid_format':
    case 'not_multiple_of':
      return [{ path: where, message: issue.message }];
  }
}

/** Every zod issue as ConfigIssues, deduplicated, in the order zod found them. */
export function translateIssues(issues: readonly z.core.$ZodIssue[], schema: unknown, input: unknown): ConfigIssue[] {
  const seen = new Set<string>();
  return issues
    .flatMap((issue) => translate(issue, schema, input))
    .filter((issue) => {
      const key = `${issue.path}\u0000${issue.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
}

export type { PathSegment };
