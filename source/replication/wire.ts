/**
 * 64-bit values on the replication wire: LSNs (unsigned) and timestamps (signed microseconds since 2000-01-01),
 * read on the hot path, once or more per message.
 */

export const PG_EPOCH_OFFSET_MICROS = 946_684_800_000_000n;
const PG_EPOCH_OFFSET_NUMBER = Number(PG_EPOCH_OFFSET_MICROS);
const TWO_32 = 4_294_967_296;
// 2^53 / 2^32: below this high word the whole value is exact as a double.
const EXACT_HIGH_WORD = 2_097_152;

/**
 * An unsigned 64-bit big-endian value. Buffer#readBigUInt64BE builds it from four intermediate BigInts; one per
 * value is enough whenever it fits a double exactly, which every LSN below 8 PiB of WAL does.
 */
export function readUint64(buf: Buffer, offset: number): bigint {
  const high = buf.readUInt32BE(offset);
  if (high >= EXACT_HIGH_WORD) return buf.readBigUInt64BE(offset);
  return BigInt(high * TWO_32 + buf.readUInt32BE(offset + 4));
}

/** A pgoutput timestamp (signed, since 2000) as Unix epoch microseconds. */
export function readTimestamp(buf: Buffer, offset: number): bigint {
  const high = buf.readInt32BE(offset);
  // Half the exact range, so that adding the epoch offset stays exact too.
  if (high >= EXACT_HIGH_WORD / 2 || high < -EXACT_HIGH_WORD / 2) {
    return buf.readBigInt64BE(offset) + PG_EPOCH_OFFSET_MICROS;
  }
  return BigInt(high * TWO_32 + buf.readUInt32BE(offset + 4) + PG_EPOCH_OFFSET_NUMBER);
}
