import { planOfShape, type ColumnFill } from '../core/types/evolution.js';
import type { TablePlan } from '../core/types/index.js';
import type { SourceTable } from '../core/types/source.js';
import type { ChangeCodec } from '../lake/state/types.js';
import { identityOf } from './routes.js';
import { loadEpochShape } from './spool-files.js';

/**
 * What the lake needs to read a table's change CSVs: each column's conversion, which columns identify a row, and
 * the state schema they belong to (an epoch whose schema is new to the table evolves it first).
 */
export function changeCodec(source: SourceTable, plan: TablePlan, fills?: readonly ColumnFill[]): ChangeCodec {
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
    schema: plan.schema,
    ...(fills ? { fills } : {}),
  };
}

/**
 * The change codec of a table as its spool describes it: of sealed epoch `epoch` (the columns the stream wrote its
 * CSVs with), or without one, of the table's last committed epoch (what its lake schema is).
 */
export function spooledCodec(spoolDir: string, epoch?: number): ChangeCodec {
  const shape = loadEpochShape(spoolDir, epoch);
  return changeCodec(shape.source, planOfShape(shape), shape.fills);
}
