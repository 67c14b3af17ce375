/**
 * `pg-cdc discover`: every table of the source database, whether pg-cdc would capture it and why.
 */
import type pg from 'pg';
import type { Logger } from '../core/log/index.js';
import { selectTables, type SelectionResult, type TableSelectionRules } from '../core/selection/index.js';
import { listTables, type CatalogTable } from './catalog.js';
import { describeTarget, withSource, type SourceSettings, type SourceTarget } from './connection.js';

export interface DiscoveryResult extends SelectionResult<CatalogTable> {
  readonly target: SourceTarget;
  readonly schemas: readonly string[];
}

/** Discovery over an open connection: what preflight uses so both see the same tables. */
export async function discoverWithClient(
  client: pg.ClientBase,
  schemas: readonly string[],
  rules: TableSelectionRules,
): Promise<SelectionResult<CatalogTable>> {
  return selectTables(await listTables(client), { ...rules, schemas });
}

export async function discoverTables(
  settings: SourceSettings,
  rules: TableSelectionRules,
  options: { readonly log?: Logger } = {},
): Promise<DiscoveryResult> {
  const result = await withSource(settings, (client) => discoverWithClient(client, settings.schemas, rules), options);
  return { ...result, target: describeTarget(settings.url ?? ''), schemas: settings.schemas };
}

function rows(estimate: number | null): string {
  if (estimate === null) return '?';
  if (estimate >= 1e9) return `${(estimate / 1e9).toFixed(1)}G`;
  if (estimate >= 1e6) return `${(estimate / 1e6).toFixed(1)}M`;
  if (estimate >= 1e4) return `${(estimate / 1e3).toFixed(0)}k`;
  return String(estimate);
}

function pad(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map((cell, i) => cell.padEnd(widths[i] ?? 0))
    .join('  ')
    .trimEnd();
}

/** A plain-text table: selected tables first, then each excluded table with its reason. */
export function formatDiscovery(result: DiscoveryResult): string {
  const { target } = result;
  const lines = [
    `${target.database} on ${target.host}:${target.port}: ${result.decisions.length} tables, ` +
      `${result.selected.length} selected, ${result.excluded.length} excluded ` +
      `(schemas: ${result.schemas.join(', ')})`,
  ];
  if (result.selected.length > 0) {
    const header = ['TABLE', 'KIND', 'ROWS~', 'COLS', 'PK', 'IDENTITY', 'WHY'];
    const body = result.selected.map((d) => [
      d.qualifiedName,
      d.table.kind,
      rows(d.table.estimatedRows),
      String(d.table.columns),
      d.table.hasPrimaryKey ? 'yes' : 'no',
      d.table.replicaIdentity,
      d.reason,
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
    lines.push('', 'selected:', `  ${pad(header, widths)}`);
    for (const [i, r] of body.entries()) {
      lines.push(`  ${pad(r, widths)}`);
      const decision = result.selected[i]!;
      if (decision.note) lines.push(`      note: ${decision.note}`);
      const tags = Object.entries(decision.tags);
      if (tags.length > 0) lines.push(`      tags: ${tags.map(([k, v]) => `${k}=${v}`).join(', ')}`);
    }
  }
  if (result.excluded.length > 0) {
    const width = Math.max(...result.excluded.map((d) => d.qualifiedName.length));
    lines.push('', 'excluded:');
    for (const d of result.excluded) lines.push(`  ${d.qualifiedName.padEnd(width)}  ${d.reason}`);
  }
  if (result.selected.length === 0) {
    lines.push(
      '',
      'no table is selected: check source.postgres.schemas, tables.include / tables.exclude and tables.policy',
    );
  }
  return lines.join('\n');
}
