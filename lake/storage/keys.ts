import { InvalidKeyError } from '../errors.js';

/**
 * Keys are '/'-separated relative paths. Anything that could climb out of the root ('..', absolute paths,
 * backslashes that Windows tools treat as separators) or that names a directory ('', '.') is refused.
 */
export function validateKey(key: string): string {
  if (key.length === 0) throw new InvalidKeyError(key, 'empty key');
  if (key.startsWith('/')) throw new InvalidKeyError(key, 'absolute key');
  if (key.includes('\\') || key.includes('\u0000')) throw new InvalidKeyError(key, 'backslash or NUL character');
  for (const segment of key.split('/')) {
    if (segment === '') throw new InvalidKeyError(key, 'empty path segment');
    if (segment === '.' || segment === '..') throw new InvalidKeyError(key, `'${segment}' segment (path traversal)`);
  }
  return key;
}

/** A list prefix: '' (everything) or a key, optionally ending in '/'. */
export function validatePrefix(prefix: string): string {
  if (prefix === '') return prefix;
  validateKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
  return prefix;
}

/** Joins key parts with '/', dropping empty parts and stray slashes at the joins. */
export function joinKey(...parts: string[]): string {
  return parts
    .map((part) => part.replace(/^\/+|\/+$/g, ''))
    .filter((part) => part !== '')
    .join('/');
}

export const utf8 = (body: Uint8Array | string): Uint8Array =>
  typeof body === 'string' ? new TextEncoder().encode(body) : body;

export const decodeUtf8 = (body: Uint8Array): string => new TextDecoder().decode(body);
