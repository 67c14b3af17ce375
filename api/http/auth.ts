import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { PgCdcError } from '../../core/errors/index.js';
import type { HttpToken } from '../../core/config/index.js';
import { ApiError } from '../errors.js';

/**
 * Bearer tokens mapped to principals. The configuration holds only each token's SHA-256 (hex), so a leaked
 * pg-cdc.yml leaks no credential; a presented token is hashed and compared with every configured digest in
 * constant time, without stopping at a match, so timing tells nothing about which digest (or how much of it)
 * matched.
 */
export class TokenAuthenticator {
  private readonly digests: { readonly principal: string; readonly digest: Buffer }[];

  constructor(tokens: readonly HttpToken[]) {
    this.digests = tokens.map((t) => ({ principal: t.principal, digest: Buffer.from(t.sha256.toLowerCase(), 'hex') }));
  }

  get configured(): boolean {
    return this.digests.length > 0;
  }

  /** The principal of a token, or undefined for an unknown one. */
  principalOf(token: string): string | undefined {
    const presented = createHash('sha256').update(token, 'utf8').digest();
    let found: string | undefined;
    for (const { principal, digest } of this.digests) {
      if (digest.length === presented.length && timingSafeEqual(digest, presented) && found === undefined) {
        found = principal;
      }
    }
    return found;
  }
}

/** `Authorization: Bearer <token>` → the token; undefined when the header is absent. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) {
    throw new ApiError('UNAUTHORIZED', 'the Authorization header is not a bearer token', {
      hint: 'send `Authorization: Bearer <token>`',
    });
  }
  return match[1];
}

export function sha256Hex(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** 127.0.0.0/8, ::1 and localhost: only this machine can connect. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || bare === '0:0:0:0:0:0:0:1';
  return false;
}

/** The Host header's name part (no port), for checking that an unauthenticated request came to a loopback name. */
export function hostName(header: string | undefined): string {
  if (!header) return '';
  const bracketed = /^\[([^\]]+)\]/.exec(header);
  if (bracketed) return bracketed[1]!;
  return header.replace(/:\d+$/, '');
}

/** Refuses to serve data on a non-loopback address without any token: everyone on the network would read it. */
export function assertSafeBinding(host: string, authenticator: TokenAuthenticator): void {
  if (authenticator.configured || isLoopbackHost(host)) return;
  throw new PgCdcError('SERVE_INSECURE', `refusing to serve on ${host} without authentication`, {
    context: { host },
    hint:
      'add serve.http.tokens (principal and the sha256 hex of its token, e.g. `printf %s "$TOKEN" | sha256sum`), ' +
      'or bind to 127.0.0.1',
  });
}
