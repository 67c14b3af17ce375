/**
 * Tags are `key=value` pairs. A resource carries its own tags; its effective tags are its own over its table's over
 * its database's (a column overrides a key its table sets). Tag sets are plain objects with sorted keys, so two
 * equal sets serialise to the same JSON.
 */
import type { ErrorContext } from '../core/errors/index.js';
import { TagInvalidError } from './errors.js';

export type Tags = Readonly<Record<string, string>>;

/** Control characters (C0 and DEL) have no place in names that are printed, logged and put in workflow ids. */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

export function checkTag(key: string, value: string, context: ErrorContext = {}): void {
  const text = `${key}=${value}`;
  if (key.trim() === '' || key !== key.trim()) throw new TagInvalidError(text, 'the key is empty or padded', context);
  if (key.includes('=')) throw new TagInvalidError(text, 'the key holds "="', context);
  if (value.trim() === '' || value !== value.trim()) {
    throw new TagInvalidError(text, 'the value is empty or padded', context);
  }
  if (hasControlCharacter(key) || hasControlCharacter(value))
    throw new TagInvalidError(text, 'control character', context);
}

/** `key=value` (split at the first `=`, so a value may hold `=`). */
export function parseTagAssignment(text: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq < 0) throw new TagInvalidError(text, 'no "=" between key and value');
  const key = text.slice(0, eq).trim();
  const value = text.slice(eq + 1).trim();
  checkTag(key, value);
  return [key, value];
}

/** A tag set with sorted keys, every pair checked. */
export function normalizeTags(tags: Readonly<Record<string, string>>, context: ErrorContext = {}): Tags {
  const out: Record<string, string> = {};
  for (const key of Object.keys(tags).sort()) {
    const value = tags[key]!;
    checkTag(key, value, context);
    out[key] = value;
  }
  return out;
}

/** Later layers override earlier ones: pass database, table, column in that order. */
export function mergeTags(...layers: readonly (Tags | undefined)[]): Tags {
  const out: Record<string, string> = {};
  for (const layer of layers) if (layer) Object.assign(out, layer);
  return normalizeTags(out);
}

export function sameTags(a: Tags, b: Tags): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && b[key] === a[key]);
}

export const isEmptyTags = (tags: Tags): boolean => Object.keys(tags).length === 0;

export function formatTags(tags: Tags): string {
  const entries = Object.entries(tags);
  return entries.length === 0 ? '(none)' : entries.map(([k, v]) => `${k}=${v}`).join(', ');
}

/** Apply `set` and then remove `unset` keys. */
export function editTags(own: Tags, set: Tags, unset: readonly string[]): Tags {
  const out: Record<string, string> = { ...own, ...set };
  for (const key of unset) delete out[key];
  return normalizeTags(out);
}

/** The required keys a tag set lacks. */
export const missingKeys = (tags: Tags, required: readonly string[]): string[] =>
  required.filter((key) => !Object.hasOwn(tags, key));
