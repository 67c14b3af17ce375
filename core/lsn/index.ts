/**
 * Log sequence numbers: the one codec for them. PostgreSQL prints an LSN as two 32-bit halves in hex (`16/B374D848`).
 *
 * Inside a process an LSN is a branded bigint (`Lsn`), so comparisons are numeric and a plain bigint cannot be
 * passed where a position in the WAL is meant. Where it leaves the process (Temporal payloads, spool and lake
 * files, snapshot summaries, the manifest, JSON) it is text in PostgreSQL's form, branded `LsnText`: only
 * `formatLsn` and `parseLsnText` make one, so a value of that type is known to be an LSN. Text from outside
 * (PostgreSQL, a file, a request) is parsed once, at that edge.
 *
 * It lives in core/ because both sides use it: source/ (the decoder, the replication protocol) may not know
 * lake/, and lake/ knows nothing of PostgreSQL's connections.
 */
import { PgCdcError } from '../errors/index.js';

export type Lsn = bigint & { readonly __brand: 'Lsn' };
export type LsnText = string & { readonly __brand: 'LsnText' };

const MAX_LSN = (1n << 64n) - 1n;

/** PostgreSQL's text form, for schemas that validate text without parsing it (zod, JSON Schema). */
export const LSN_TEXT_PATTERN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

export const LSN_TEXT_HINT =
  'write an LSN as PostgreSQL prints it: two hex numbers separated by a slash, e.g. 16/B374D848 (see pg_current_wal_lsn())';

/** `0/0`: on START_REPLICATION it means "from the slot's confirmed position". */
export const ZERO_LSN = 0n as Lsn;

export function asLsn(value: bigint): Lsn {
  if (value < 0n || value > MAX_LSN) {
    throw new PgCdcError('LSN_INVALID', `LSN ${value} is outside 0 .. 2^64-1`, {
      hint: 'an LSN is an unsigned 64-bit position in the WAL; check where this value came from',
    });
  }
  return value as Lsn;
}

/** undefined when `text` is not an LSN: for callers that answer a bad value with their own error. */
export function tryParseLsn(text: string): Lsn | undefined {
  const match = LSN_TEXT_PATTERN.exec(text.trim());
  if (!match) return undefined;
  return ((BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`)) as Lsn;
}

/** Throws LSN_INVALID (with the value and a hint) when `text` is not an LSN. */
export function parseLsn(text: string): Lsn {
  const lsn = tryParseLsn(text);
  if (lsn === undefined) {
    throw new PgCdcError('LSN_INVALID', `"${text}" is not an LSN`, { context: { value: text }, hint: LSN_TEXT_HINT });
  }
  return lsn;
}

/** Upper-case hex halves without leading zeros, exactly as pg_lsn's output function writes them. */
export function formatLsn(lsn: Lsn | bigint): LsnText {
  const high = (lsn >> 32n).toString(16).toUpperCase();
  const low = (lsn & 0xffffffffn).toString(16).toUpperCase();
  return `${high}/${low}` as LsnText;
}

/** Text from outside, checked and put in PostgreSQL's form; throws LSN_INVALID like `parseLsn`. */
export const parseLsnText = (text: string): LsnText => formatLsn(parseLsn(text));

export const maxLsn = (a: Lsn, b: Lsn): Lsn => (a > b ? a : b);
