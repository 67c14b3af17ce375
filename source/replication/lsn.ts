/**
 * Log sequence numbers. PostgreSQL prints an LSN as two 32-bit halves in hex (`16/B374D848`); inside pg-cdc it is a
 * branded bigint, parsed once where it enters (config, catalog queries, the wire) so that comparisons are numeric
 * and a plain bigint cannot be passed where a position in the WAL is meant.
 */
import { PgCdcError } from '../../core/errors/index.js';

export type Lsn = bigint & { readonly __brand: 'Lsn' };

const MAX_LSN = (1n << 64n) - 1n;
const LSN_PATTERN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

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

export function parseLsn(text: string): Lsn {
  const match = LSN_PATTERN.exec(text.trim());
  if (!match) {
    throw new PgCdcError('LSN_INVALID', `"${text}" is not an LSN`, {
      context: { value: text },
      hint: 'write an LSN as PostgreSQL prints it: two hex numbers separated by a slash, e.g. 16/B374D848 (see pg_current_wal_lsn())',
    });
  }
  return ((BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`)) as Lsn;
}

/** Upper-case hex halves without leading zeros, exactly as pg_lsn's output function writes them. */
export function formatLsn(lsn: Lsn | bigint): string {
  const high = (lsn >> 32n).toString(16).toUpperCase();
  const low = (lsn & 0xffffffffn).toString(16).toUpperCase();
  return `${high}/${low}`;
}

export const maxLsn = (a: Lsn, b: Lsn): Lsn => (a > b ? a : b);
