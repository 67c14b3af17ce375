import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { FAULT_ENV } from './env.js';

/** One fault a case injected, and what became of the case. */
export interface FaultRecord {
  readonly case: string;
  /** What was injected, e.g. `SIGKILL pg-cdc start`. */
  readonly fault: string;
  /** Seconds into the case's load when it was injected. */
  readonly atSec: number;
  /** What the system did about it, e.g. `restarted, resumed`, `rode it out`, `exited 1 (TEMPORAL_UNREACHABLE)`. */
  readonly response: string;
}

export interface CaseRecord {
  readonly case: string;
  readonly passed: boolean;
  readonly durationSec: number;
  readonly faults: readonly FaultRecord[];
  /** What the checks found: row counts, acknowledgement samples, or the failure. */
  readonly detail: string;
}

/** Appends a case's record to the report file the runner named (stderr when a case file runs on its own). */
export function recordCase(record: CaseRecord): void {
  const line = JSON.stringify(record) + '\n';
  const file = process.env[FAULT_ENV.report];
  if (file) appendFileSync(file, line);
  else process.stderr.write(line);
}

export function readReport(file: string): CaseRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as CaseRecord);
}

const pad = (text: string, width: number): string =>
  text.length >= width ? text : text + ' '.repeat(width - text.length);

/** The table printed at the end of the suite: one row per fault injected, then each case's outcome and duration. */
export function formatReport(records: readonly CaseRecord[]): string {
  const rows: string[][] = [['case', 'fault', 'at (s)', 'response', 'outcome', 'case (s)']];
  for (const record of records) {
    const outcome = record.passed ? 'PASS' : 'FAIL';
    const faults = record.faults.length > 0 ? record.faults : [{ fault: '(none injected)', atSec: NaN, response: '' }];
    faults.forEach((fault, i) =>
      rows.push([
        i === 0 ? record.case : '',
        fault.fault,
        Number.isNaN(fault.atSec) ? '' : fault.atSec.toFixed(1),
        fault.response,
        i === 0 ? outcome : '',
        i === 0 ? record.durationSec.toFixed(0) : '',
      ]),
    );
    rows.push(['', `  ${record.detail}`, '', '', '', '']);
  }
  const widths = rows[0]!.map((_, column) =>
    Math.max(...rows.filter((row) => !row[1]!.startsWith('  ')).map((row) => row[column]!.length)),
  );
  return rows
    .map((row) =>
      (row[1]!.startsWith('  ') ? row[1]! : row.map((cell, c) => pad(cell, widths[c]!)).join('  ')).trimEnd(),
    )
    .join('\n');
}
