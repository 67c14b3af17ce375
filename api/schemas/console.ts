import { z } from 'zod';

/** The console and operations bodies of the REST API (status, catalog, audit), also sent by the SSE streams. */
const nullableText = z.string().nullable();

export const statusOutput = z.object({
  principal: z.string(),
  serve: z.object({ version: z.string(), started_at: z.string(), uptime_seconds: z.number() }),
  lake: z.object({
    location: z.string(),
    snapshotted: z.boolean().describe('false: nothing has been snapshotted into this lake yet'),
    manifest_version: z.number().int().nullable(),
    updated_at: nullableText,
    consistent_point_lsn: nullableText,
    slot: nullableText,
    publication: nullableText,
    tables: z.array(
      z.object({
        table: z.string(),
        row_count: z.number().int(),
        snapshot_id: nullableText,
        committed_lsn: z.string(),
        epoch: z.number().int(),
        schema_version: z.number().int(),
      }),
    ),
  }),
  freshness: z.object({
    lag_seconds: z.number().nullable(),
    max_lag_seconds: z.number(),
    is_stale: z.boolean().nullable(),
  }),
  policy_version: z.number().int().nullable(),
});

export const catalogOutput = z.object({
  catalog: z.object({ type: z.string(), warehouse: z.string() }),
  tables: z.array(
    z.object({
      identifier: z.string(),
      kind: z.enum(['state', 'changes']),
      location: z.string(),
      metadata_location: z.string(),
      format_version: z.number().int(),
      current_snapshot_id: nullableText,
      snapshot_count: z.number().int(),
      schema_id: z.number().int(),
      last_updated_at: z.string(),
      columns: z.array(
        z.object({ field_id: z.number().int(), name: z.string(), type: z.string(), required: z.boolean() }),
      ),
    }),
  ),
});

export const auditEntry = z.object({
  at: z.string(),
  principal: z.string(),
  via: z.enum(['mcp', 'http']),
  action: z.string().describe('the MCP tool or REST route'),
  tables: z.array(z.string()),
  outcome: z.enum(['ok', 'error']),
  code: nullableText.describe('the error code, for errors'),
  rows: z.number().int().nullable(),
  elapsed_ms: z.number(),
});

export const auditSummaryOutput = z.object({
  since: z.string().describe('the server keeps the audit of its own lifetime, up to its buffer size'),
  total: z.number().int(),
  errors: z.number().int(),
  by_principal: z.array(
    z.object({ principal: z.string(), requests: z.number().int(), errors: z.number().int(), rows: z.number().int() }),
  ),
  by_action: z.array(z.object({ action: z.string(), requests: z.number().int(), errors: z.number().int() })),
  by_table: z.array(z.object({ table: z.string(), requests: z.number().int() })),
  recent: z.array(auditEntry),
});

export const healthOutput = z.object({ status: z.literal('ok'), uptime_seconds: z.number() });

export type StatusWire = z.infer<typeof statusOutput>;
export type CatalogWire = z.infer<typeof catalogOutput>;
export type AuditEntry = z.infer<typeof auditEntry>;
export type AuditSummaryWire = z.infer<typeof auditSummaryOutput>;
