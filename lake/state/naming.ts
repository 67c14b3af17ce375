import { createHash } from 'node:crypto';
import { joinKey } from '../storage/keys.js';

/**
 * Names that make an epoch's commit repeatable: the snapshot ids and file names are functions of the table and
 * the epoch, so a retried commit finds its own snapshot, and a file rewritten before its commit replaces the
 * unreferenced leftover of the crashed attempt instead of adding a second one. (The tables' own names are the
 * lake's contract: lake/contract.)
 */

/** A positive 63-bit snapshot id derived from the identifier, what made the snapshot and its number; never 0. */
function derivedSnapshotId(identifier: string, kind: 'epoch' | 'compaction' | 'fill', n: number | bigint): bigint {
  const digest = createHash('sha256').update(`${identifier}\u0000${kind}\u0000${n}`).digest();
  const id = digest.readBigUInt64BE(0) & 0x7fff_ffff_ffff_ffffn;
  return id === 0n ? 1n : id;
}

/** The snapshot id of an epoch's commit: (identifier, epoch). */
export const epochSnapshotId = (identifier: string, epoch: number): bigint =>
  derivedSnapshotId(identifier, 'epoch', epoch);

/** The snapshot id of a compaction's commit: (identifier, the snapshot it rewrote). */
export const compactionSnapshotId = (identifier: string, baseSnapshotId: bigint): bigint =>
  derivedSnapshotId(identifier, 'compaction', baseSnapshotId);

/** The snapshot id of a fill's commit: (identifier, the schema id it fills for). */
export const fillSnapshotId = (identifier: string, schemaId: number): bigint =>
  derivedSnapshotId(identifier, 'fill', schemaId);

/** `<location>/data/fill-s0003-<table-hash>.parquet`: the rows of a fill, one file per schema id. */
export function fillFileKey(location: string, tableUuid: string, schemaId: number): string {
  const tableHash = createHash('sha256').update(tableUuid).digest('hex').slice(0, 12);
  return joinKey(location, 'data', `fill-s${String(schemaId).padStart(4, '0')}-${tableHash}.parquet`);
}

export type EpochFilePart = 'state' | 'deletes' | 'changes';

/**
 * `<location>/data/e000042-<table-hash>-state.parquet`. The hash is of the table's uuid: a table dropped and created
 * again at the same location starts at epoch 1 again, and must not overwrite files an old snapshot still names.
 */
export function epochFileKey(location: string, tableUuid: string, epoch: number, part: EpochFilePart): string {
  const tableHash = createHash('sha256').update(tableUuid).digest('hex').slice(0, 12);
  return joinKey(location, 'data', `e${String(epoch).padStart(6, '0')}-${tableHash}-${part}.parquet`);
}

/**
 * The snapshot id of a table's base snapshot, derived from the table and the slot's consistent point: a retried
 * commit finds its own snapshot instead of adding a second copy of the data.
 */
export function baseSnapshotId(identifier: string, lsn: string): bigint {
  const digest = createHash('sha256').update(`${identifier}\u0000${lsn}`).digest();
  return digest.readBigUInt64BE(0) & 0x7fff_ffff_ffff_ffffn;
}
