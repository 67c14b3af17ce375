/**
 * Field builders shared by the configuration schema. Every rule that can fail reports a custom zod issue
 * whose `params.hint` says how to fix it; load.ts turns those into ConfigIssues.
 */
import { z } from 'zod';
import { tryParseDuration } from './duration.js';

export type PathSegment = string | number;

export interface IssueSink {
  addIssue(issue: z.core.$ZodSuperRefineIssue): void;
}

/** Report one problem (optionally at a sub-path) with a hint. */
export function fail(ctx: IssueSink, message: string, hint: string, path?: PathSegment[]): void {
  ctx.addIssue({ code: 'custom', message, params: { hint }, ...(path ? { path } : {}) });
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const NUMERIC = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Strings that spell a number ("5432", e.g. from `${PORT}`) become numbers; anything else is left to fail. */
export function toNumber(value: unknown): unknown {
  return typeof value === 'string' && NUMERIC.test(value.trim()) ? Number(value) : value;
}

/** "true"/"false" (any case) become booleans; anything else is left to fail. */
export function toBoolean(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const text = value.trim().toLowerCase();
  return text === 'true' ? true : text === 'false' ? false : value;
}

export interface Range {
  readonly int?: boolean;
  readonly min?: number;
  /** Exclusive lower bound. */
  readonly above?: number;
  readonly max?: number;
  readonly unit?: string;
}

export function describeRange(range: Range): string {
  const kind = range.int ? 'an integer' : 'a number';
  if (range.min !== undefined && range.max !== undefined) return `${kind} between ${range.min} and ${range.max}`;
  if (range.above !== undefined) return `${kind} > ${range.above}`;
  if (range.min !== undefined) return `${kind} >= ${range.min}`;
  return kind;
}

function inRange(value: number, range: Range): boolean {
  if (range.int && !Number.isSafeInteger(value)) return false;
  if (range.min !== undefined && value < range.min) return false;
  if (range.above !== undefined && value <= range.above) return false;
  return range.max === undefined || value <= range.max;
}

function checkedNumber(range: Range, defaultText: string) {
  const text = describeRange(range);
  const unit = range.unit ? ` (${range.unit})` : '';
  return z.number().superRefine((value, ctx) => {
    if (!inRange(value, range))
      fail(ctx, `must be ${text}${unit}, got ${value}`, `use ${text}; the default is ${defaultText}`);
  });
}

/** A number field with an allowed range and a default; numeric strings are accepted. */
export function num(range: Range, fallback: number) {
  return z.preprocess(toNumber, checkedNumber(range, String(fallback))).default(fallback);
}

/** A number field whose default derives from other keys (the schema's final transform fills it in). */
export function derivedNum(range: Range, derivation: string) {
  return z.preprocess(toNumber, checkedNumber(range, derivation)).optional();
}

/** A boolean field with a default; "true"/"false" strings are accepted. */
export function bool(fallback: boolean) {
  return z.preprocess(toBoolean, z.boolean()).default(fallback);
}

/** A string that must satisfy `test`; `message` and `hint` explain a failure. */
export function matching(
  test: (value: string) => boolean,
  message: (value: string) => string,
  hint: string | ((value: string) => string),
) {
  return z.string().superRefine((value, ctx) => {
    if (!test(value)) fail(ctx, message(value), typeof hint === 'string' ? hint : hint(value));
  });
}

export const nonEmpty = () =>
  matching(
    (v) => v.trim() !== '',
    () => 'must not be empty',
    'give it a value, or remove the key',
  );

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/** A Postgres identifier as written without quotes (schema, publication names). */
export const identifier = () =>
  matching(
    (v) => IDENTIFIER.test(v),
    (v) => `"${v}" is not a valid Postgres identifier`,
    'use letters, digits, _ and $, starting with a letter or _, at most 63 characters',
  );

/** Replication slot names: lowercase letters, digits and underscore, at most 63 characters. */
export const slotName = () =>
  matching(
    (v) => /^[a-z0-9_]{1,63}$/.test(v),
    (v) => `"${v}" is not a valid replication slot name`,
    (v) => {
      const fixed =
        v
          .toLowerCase()
          .replace(/[^a-z0-9_]/g, '_')
          .slice(0, 63) || 'pg_cdc_slot';
      return `slot names allow only lowercase letters, digits and _ (at most 63 characters), e.g. "${fixed}"`;
    },
  );

const GLOB_PART = String.raw`[\p{L}\p{N}_$*?-]+`;
const TABLE_GLOB = new RegExp(`^${GLOB_PART}\\.${GLOB_PART}$`, 'u');

/** A "schema.table" pattern; `*` and `?` are wildcards. */
export const tableGlob = () =>
  matching(
    (v) => TABLE_GLOB.test(v),
    (v) => `"${v}" is not a schema.table pattern`,
    (v) =>
      v.includes('.')
        ? 'write exactly one "." between schema and table; * and ? are wildcards, e.g. "public.*"'
        : `qualify it with its schema, e.g. "public.${v}" (* and ? are wildcards)`,
  );

/** A postgres:// or postgresql:// connection URL. Only the scheme is echoed back: the URL may hold a password. */
export const postgresUrl = () =>
  matching(
    (v) => /^postgres(?:ql)?:\/\//i.test(v),
    (v) => {
      const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(v)?.[1];
      return scheme
        ? `unsupported URL scheme "${scheme}://": must start with postgres:// or postgresql://`
        : 'must be a URL starting with postgres:// or postgresql://';
    },
    'write it as postgresql://user:${PGCDC_PASSWORD}@host:5432/dbname',
  );

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)?:(\d{1,5})$/;

function validHostPort(value: string, hostRequired: boolean): boolean {
  const match = HOST_PORT.exec(value);
  if (!match || (hostRequired && match[1] === undefined)) return false;
  return Number(match[2]) <= 65535;
}

/** `host:port` (port 0..65535); with `hostRequired: false` a bare `:port` is accepted too. */
export const hostPort = (hostRequired: boolean, example: string, alternative?: string) =>
  matching(
    (v) => (alternative !== undefined && v === alternative) || validHostPort(v, hostRequired),
    (v) => `"${v}" is not ${alternative ? `"${alternative}" or ` : ''}host:port with a port between 0 and 65535`,
    (v) =>
      /^[A-Za-z0-9._-]+$/.test(v) && alternative !== v
        ? `add the port, e.g. "${v}:${example.split(':').pop() ?? ''}"`
        : `write ${alternative ? `"${alternative}" or ` : ''}host:port, e.g. "${example}"`,
  );

/** A duration string such as 30m, 1h or 2d (see duration.ts). */
export const duration = () =>
  matching(
    (v) => tryParseDuration(v) !== undefined,
    (v) => `"${v}" is not a duration`,
    'write a number followed by s, m, h or d, e.g. 30m, 1h or 1d',
  );

/** 64 hexadecimal characters (a SHA-256 digest). */
export const sha256Hex = () =>
  matching(
    (v) => /^[0-9a-fA-F]{64}$/.test(v),
    () => 'must be a SHA-256 digest: 64 hexadecimal characters',
    'store the hash, not the token: printf %s "$TOKEN" | sha256sum',
  );
