import type { SnapshotFiles } from '../reader.js';

/**
 * When a table is worth compacting. Rewriting costs a full read and write of the table, so it waits until the
 * table has paid for it: enough small files (each one a request and a footer read for every reader), or enough
 * deleted rows (read and thrown away by every query). The thresholds are `compaction.min_small_files` and
 * `compaction.min_delete_ratio`; a file is small under ¾ of the target size, Iceberg's `min-file-size-bytes` ratio.
 */
export interface CompactionThresholds {
  readonly targetFileSizeBytes: number;
  readonly minSmallFiles: number;
  readonly minDeleteRatio: number;
}

export interface TableAssessment {
  readonly due: boolean;
  /** Why it is due, as a reader would say it; empty when it is not. */
  readonly reasons: readonly string[];
  readonly dataFiles: number;
  readonly deleteFiles: number;
  readonly smallFiles: number;
  readonly dataRows: number;
  readonly deletedRows: number;
  readonly bytes: number;
}

export const SMALL_FILE_RATIO = 0.75;

export function assessTable(files: SnapshotFiles, thresholds: CompactionThresholds): TableAssessment {
  const all = [...files.dataFiles, ...files.deleteFiles];
  const smallFiles = all.filter((f) => f.fileSizeInBytes < thresholds.targetFileSizeBytes * SMALL_FILE_RATIO).length;
  const dataRows = files.dataFiles.reduce((n, f) => n + f.recordCount, 0);
  const deletedRows = files.deleteFiles.reduce((n, f) => n + f.recordCount, 0);
  const reasons: string[] = [];
  if (smallFiles >= thresholds.minSmallFiles) {
    reasons.push(`${smallFiles} small files (at least ${thresholds.minSmallFiles})`);
  }
  const ratio = dataRows === 0 ? 0 : deletedRows / dataRows;
  if (deletedRows > 0 && ratio >= thresholds.minDeleteRatio) {
    reasons.push(`${(ratio * 100).toFixed(1)}% of rows deleted (at least ${thresholds.minDeleteRatio * 100}%)`);
  }
  return {
    due: reasons.length > 0,
    reasons,
    dataFiles: files.dataFiles.length,
    deleteFiles: files.deleteFiles.length,
    smallFiles,
    dataRows,
    deletedRows,
    bytes: all.reduce((n, f) => n + f.fileSizeInBytes, 0),
  };
}
