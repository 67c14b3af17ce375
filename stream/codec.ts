import { planTable, type TablePlan } from '../core/types/index.js';
import type { SourceTable } from '../core/types/source.js';
import type { ChangeCodec } from '../lake/state/types.js';
import { identityOf } from './routes.js';
import { loadSpooledSource } from './spool-files.js';

/** What the lake needs to read a table's change CSVs: each column's conversion, and which columns identify a row. */
export function changeCodec(source: SourceTable, plan: TablePlan): ChangeCodec {
  const { identity, identityKind } = identityOf(source);
  return {
    columns: plan.columns.map((column) => ({
      fieldId: column.fieldId,
      name: column.parquetName,
      csvType: column.csvType,
      convert: (text: string) => column.convert(text),
      duckdbFieldIds: column.duckdbFieldIds,
    })),
    identity: identity.map((index) => plan.columns[index]!.fieldId),
    identityKind,
  };
}

/** The change codec of a table as its spool describes it (the columns the stream wrote its CSVs with). */
export function spooledCodec(spoolDir: string): ChangeCodec {
  const source = loadSpooledSource(spoolDir);
  return changeCodec(source, planTable(source));
}
