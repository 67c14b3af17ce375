/**
 * LSNs as the batch carries them (`X/Y`, PostgreSQL's text form) and as the changelog stores them: one 64-bit
 * number, so `_commit_lsn` sorts and compares as a long in any reader.
 */
const LSN_PATTERN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** undefined when `text` is not an LSN. */
export function lsnValue(text: string): bigint | undefined {
  const match = LSN_PATTERN.exec(text);
  if (!match) return undefined;
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** Upper-case hex halves without leading zeros, as pg_lsn prints them. */
export function lsnText(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffff_ffffn).toString(16).toUpperCase()}`;
}
