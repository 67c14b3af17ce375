import { z } from 'zod';
import { LSN_TEXT_PATTERN } from '../../core/lsn/index.js';
import { FILTER_OPS } from '../../engine/types.js';

/**
 * What callers send, shared by the MCP tools and the REST routes (and turned into the OpenAPI document), so the
 * two front doors accept exactly the same requests. Field names are snake_case, as in `pg-cdc status --json`.
 */
const UNARY_OPS: ReadonlySet<string> = new Set(['isnull', 'notnull']);
/** The refs that name the newest manifest (see service/refs.ts). */
export const LATEST_REFS: ReadonlySet<string> = new Set(['latest', 'staging', 'main']);

export const tableName = z
  .string()
  .min(3)
  .max(512)
  .regex(/^[^.\s]+\..+$/, 'a lake table as schema.table')
  .describe('lake table `schema.table`, or `schema.table__changes` for its changelog');

const column = z.string().min(1).max(256);
const columns = z.array(column).min(1).max(1024).describe('columns to return, in this order (default: all visible)');
const limit = z
  .number()
  .int()
  .min(1)
  .describe('at most this many rows; capped by serve.query.row_limit, which is also the default');
const snapshotId = z
  .string()
  .regex(/^\d{1,19}$/, 'a decimal snapshot id')
  .describe('an Iceberg snapshot id, as get_snapshot and list_tables return it');
export const refName = z
  .string()
  .min(1)
  .max(128)
  .describe('`latest` (also `staging`, `main`), `v<N>` (manifest version N) or `raw@<ISO timestamp>`');
const lsn = z
  .string()
  .regex(LSN_TEXT_PATTERN, 'an LSN like 0/16B3748')
  .describe('a commit LSN: changes committed after it');

export const filterSchema = z
  .strictObject({
    column,
    op: z.enum(FILTER_OPS),
    // Declared as text (the portable schema every model provider accepts); numbers and booleans sent anyway are
    // taken as their text, which is what the engine binds.
    value: z
      .preprocess((v) => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : v), z.string())
      .optional()
      .describe('the value as text, converted to the column type; absent for isnull/notnull'),
  })
  .superRefine((filter, ctx) => {
    const unary = UNARY_OPS.has(filter.op);
    if (unary && filter.value !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `${filter.op} takes no value` });
    }
    if (!unary && filter.value === undefined) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `${filter.op} needs a value` });
    }
  });

export const listTablesInput = z.strictObject({});

export const describeTableInput = z.strictObject({ table: tableName });

export const queryInput = z
  .strictObject({
    table: tableName.optional().describe('read one table (structured query); give either table or sql'),
    columns: columns.optional(),
    filters: z.array(filterSchema).max(64).optional().describe('all must hold'),
    sql: z
      .string()
      .min(1)
      .max(100_000)
      .optional()
      .describe('one read-only SELECT over your visible tables, written "schema"."table"; give either sql or table'),
    limit: limit.optional(),
    ref: refName.optional(),
    snapshot_id: snapshotId.optional(),
  })
  .superRefine((query, ctx) => {
    if ((query.table === undefined) === (query.sql === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['table'], message: 'give exactly one of table and sql' });
    }
    if (query.sql !== undefined) {
      for (const key of ['columns', 'filters'] as const) {
        if (query[key] !== undefined) {
          ctx.addIssue({ code: 'custom', path: [key], message: `${key} applies to a table query, not to sql` });
        }
      }
    }
    // A ref is a manifest version: for one table that is one snapshot, for a statement over several it is not.
    if (query.sql !== undefined && query.ref !== undefined && !LATEST_REFS.has(query.ref)) {
      ctx.addIssue({
        code: 'custom',
        path: ['ref'],
        message: 'a past ref reads one table: use it with table, not sql',
      });
    }
    if (query.ref !== undefined && query.snapshot_id !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['snapshot_id'], message: 'give ref or snapshot_id, not both' });
    }
  });

export const changesInput = z
  .strictObject({
    table: tableName.describe('the replicated table `schema.table` whose changelog to read'),
    since_epoch: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('changes of epochs after this one (0 = every change since the snapshot; the default)'),
    since_lsn: lsn.optional(),
    columns: columns.optional(),
    limit: limit.optional(),
  })
  .superRefine((request, ctx) => {
    if (request.since_epoch !== undefined && request.since_lsn !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['since_lsn'], message: 'give since_epoch or since_lsn, not both' });
    }
  });

export const manifestInput = z.strictObject({ ref: refName.optional() });

export const freshnessInput = z.strictObject({
  table: tableName.optional().describe('one table; default every table you can see'),
  max_lag_seconds: z
    .number()
    .positive()
    .optional()
    .describe('stale when the lake has taken no commit for longer (default: 3 flush intervals, at least 60 s)'),
});

export const snapshotInput = z
  .strictObject({ table: tableName, ref: refName.optional(), snapshot_id: snapshotId.optional() })
  .superRefine((request, ctx) => {
    if (request.ref !== undefined && request.snapshot_id !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['snapshot_id'], message: 'give ref or snapshot_id, not both' });
    }
  });

export const diffInput = z.strictObject({
  from: refName.describe('the older side, e.g. `v3` or `raw@2025-01-01T00:00:00Z`'),
  to: refName.optional().describe('the newer side (default `latest`)'),
});

export type QueryInput = z.infer<typeof queryInput>;
export type ChangesInput = z.infer<typeof changesInput>;
export type FreshnessInput = z.infer<typeof freshnessInput>;
export type SnapshotInput = z.infer<typeof snapshotInput>;
export type DiffInput = z.infer<typeof diffInput>;
export type ManifestInput = z.infer<typeof manifestInput>;
