import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PgCdcError } from '../core/errors/index.js';
import type { TableShape } from '../core/types/evolution.js';
import type { ReconciledColumns } from './routes.js';
import type { ChangeBatch, CommittedTransaction } from '../lake/state/types.js';

/**
 * The spool's files that outlive a process: each table's shape as its lake has it (shape.json: the columns and
 * field ids of its last committed epoch) and each sealed epoch's batch.json (its transactions, its files by name
 * within the epoch's directory, and the shape its CSVs were written in).
 */
export const BATCH_FILE = 'batch.json';
const SHAPE_FILE = 'shape.json';
const LAKE_TABLE_FILE = 'lake-table.json';
const RECONCILED_FILE = 'reconciled.json';

export interface SavedBatch {
  readonly table: string;
  readonly epoch: number;
  readonly bytes: number;
  /** Bytes of the longest row in its files; absent in epochs sealed by an older version. */
  readonly longestRow?: number;
  readonly files: readonly string[];
  readonly transactions: readonly CommittedTransaction[];
  /** The columns and field ids of the epoch's CSVs; absent in epochs sealed by an older version (then shape.json). */
  readonly shape?: TableShape;
}

export const epochDir = (tableDir: string, epoch: number): string => join(tableDir, `e${epoch}`);

/**
 * Binds a table's spool to the lake table it feeds (its Iceberg `table-uuid`). A spool bound to another table, or
 * to none (written before spools were bound), is emptied first: after `teardown --purge-storage` and a new `init`
 * under the same slot name, sealed epochs of the old slot must never be committed into the new table. Emptying is
 * always safe: a spooled transaction is acknowledged to the server only once the lake holds it, so the slot still
 * has whatever the new table needs. Returns whether a spool was emptied.
 */
export function bindSpoolToLakeTable(tableDir: string, tableUuid: string): boolean {
  const path = join(tableDir, LAKE_TABLE_FILE);
  const bound = existsSync(path)
    ? (JSON.parse(readFileSync(path, 'utf8')) as { tableUuid?: unknown }).tableUuid
    : undefined;
  if (bound === tableUuid) return false;
  const emptied = existsSync(tableDir);
  rmSync(tableDir, { recursive: true, force: true });
  mkdirSync(tableDir, { recursive: true });
  writeFileSync(path, JSON.stringify({ tableUuid }));
  return emptied;
}

/**
 * Binds the spool of a table that joined while streaming to its new lake table. Its spool was started before the
 * table existed (it gathered the changes made during the copy), so unlike `bindSpoolToLakeTable` nothing is
 * emptied: the directory was made fresh for this table.
 */
export function bindFreshSpool(tableDir: string, tableUuid: string): void {
  writeFileSync(join(tableDir, LAKE_TABLE_FILE), JSON.stringify({ tableUuid }));
}

/** Records the shape of the table's last committed epoch: what its lake schema is. */
export function saveCommittedShape(tableDir: string, shape: TableShape): void {
  const path = join(tableDir, SHAPE_FILE);
  writeFileSync(`${path}.new`, JSON.stringify(shape));
  renameSync(`${path}.new`, path);
}

export function loadCommittedShape(tableDir: string): TableShape | undefined {
  const path = join(tableDir, SHAPE_FILE);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as TableShape) : undefined;
}

/** What the last `pg-cdc reconcile` applied to the table, for the transactions the slot still sends from before it. */
export function saveReconciled(tableDir: string, reconciled: ReconciledColumns): void {
  mkdirSync(tableDir, { recursive: true });
  const path = join(tableDir, RECONCILED_FILE);
  writeFileSync(`${path}.new`, JSON.stringify(reconciled));
  renameSync(`${path}.new`, path);
}

export function loadReconciled(tableDir: string): ReconciledColumns | undefined {
  const path = join(tableDir, RECONCILED_FILE);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as ReconciledColumns) : undefined;
}

export function clearReconciled(tableDir: string): void {
  rmSync(join(tableDir, RECONCILED_FILE), { force: true });
}

/** The shape of a sealed epoch's CSVs: its own, else the table's committed one. */
export function loadEpochShape(tableDir: string, epoch?: number): TableShape {
  const own = epoch === undefined ? undefined : readSavedBatch(epochDir(tableDir, epoch))?.shape;
  if (own) return own;
  const path = join(tableDir, SHAPE_FILE);
  if (!existsSync(path)) {
    throw new PgCdcError('SPOOL_MISSING', `the spool of this table is missing its description`, {
      context: { path },
      hint: 'epochs are committed on the host whose spool holds them; run `pg-cdc start` there',
    });
  }
  return JSON.parse(readFileSync(path, 'utf8')) as TableShape;
}

export function saveBatch(dir: string, batch: SavedBatch): void {
  const path = join(dir, BATCH_FILE);
  try {
    writeFileSync(path, JSON.stringify(batch));
  } catch (error) {
    throw spoolWriteError(error, path);
  }
}

/** A full disk as the typed error that says what to do; any other write error as it came. */
export function spoolWriteError(error: unknown, path: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return error;
  return new PgCdcError('SPOOL_DISK_FULL', `the spool's disk is full (${code})`, {
    context: { path },
    hint: 'free space on the disk of spool.dir (or give it a larger one) and start pg-cdc again: nothing that is not in the lake was acknowledged, so it resumes where the lake ends',
    cause: error,
  });
}

export function readSavedBatch(dir: string): SavedBatch | undefined {
  const path = join(dir, BATCH_FILE);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as SavedBatch) : undefined;
}

export function toChangeBatch(saved: SavedBatch, dir: string): ChangeBatch {
  if (!Array.isArray(saved.files)) {
    throw new PgCdcError('SPOOL_MISSING', 'a sealed epoch of the spool was written by an older version', {
      context: { table: saved.table, epoch: saved.epoch, path: dir },
      hint: 'restart `pg-cdc start`: it drops such epochs and reads their transactions from the slot again',
    });
  }
  return {
    table: saved.table,
    epoch: saved.epoch,
    files: saved.files.map((name: string) => join(dir, name)),
    transactions: saved.transactions,
    ...(saved.longestRow === undefined ? {} : { longestRow: saved.longestRow }),
  };
}

/** The sealed epoch, or undefined when its directory is gone (committed and cleaned up, or never sealed here). */
export function loadSealedEpoch(tableDir: string, epoch: number): ChangeBatch | undefined {
  const dir = epochDir(tableDir, epoch);
  const saved = readSavedBatch(dir);
  return saved ? toChangeBatch(saved, dir) : undefined;
}
