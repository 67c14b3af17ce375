/** Plain-text renderings of the registry for `pg-cdc acl` (stdout); `--json` prints the objects instead. */
import type { BreakGlassGrant } from './grants.js';
import type { Drift, DriftReport } from './intent.js';
import type { AuditEntry } from './audit.js';
import { formatTags, type Tags } from './tags.js';

export interface ResourceView {
  readonly resource: string;
  readonly kind: 'database' | 'table' | 'column';
  readonly registered: boolean;
  readonly version: number | null;
  readonly tags: Tags;
  readonly effective: Tags;
  /** For each effective key, the resource that gives it. */
  readonly from: Readonly<Record<string, string>>;
  /** Roles whose grant these effective tags satisfy. */
  readonly matches: readonly string[];
  readonly registeredAt?: string;
  readonly updatedAt?: string;
  readonly history?: readonly AuditEntry[];
}

function pad(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return rows.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}

const inherited = (view: ResourceView): string => {
  const entries = Object.entries(view.effective).filter(([key]) => view.from[key] !== view.resource);
  return entries.length === 0 ? '' : entries.map(([k, v]) => `${k}=${v} (from ${view.from[k]})`).join(', ');
};

export function formatAuditEntry(entry: AuditEntry): string {
  const who = `${entry.actor}${entry.principal ? ` for ${entry.principal}` : ''}`;
  const change = describeChange(entry.before, entry.after);
  return `${entry.at}  ${entry.action.padEnd(8)} ${who}: ${entry.reason}${change ? `  [${change}]` : ''}`;
}

function describeChange(before: unknown, after: unknown): string {
  const tagsOf = (value: unknown): Tags | undefined =>
    value !== null && typeof value === 'object' && 'tags' in value ? (value as { tags: Tags }).tags : undefined;
  const expiryOf = (value: unknown): string | undefined =>
    value !== null && typeof value === 'object' && 'expiresAt' in value ? String(value.expiresAt) : undefined;
  const [tb, ta] = [tagsOf(before), tagsOf(after)];
  if (tb || ta) return `${tb ? formatTags(tb) : '-'} -> ${ta ? formatTags(ta) : '-'}`;
  const [eb, ea] = [expiryOf(before), expiryOf(after)];
  if (eb || ea) return `until ${eb ?? '-'} -> ${ea ?? 'ended'}`;
  return '';
}

export function formatResourceView(view: ResourceView): string {
  const lines = [
    `${view.resource} (${view.kind}${view.registered ? `, version ${view.version}` : ', not registered'})`,
    `  own tags:       ${formatTags(view.tags)}`,
    `  effective tags: ${formatTags(view.effective)}`,
  ];
  const from = inherited(view);
  if (from) lines.push(`  inherited:      ${from}`);
  lines.push(`  grant matches:  ${view.matches.length > 0 ? view.matches.join(', ') : '(no role)'}`);
  if (view.updatedAt) lines.push(`  updated:        ${view.updatedAt}`);
  if (view.history) {
    lines.push('  history:');
    for (const entry of view.history) lines.push(`    ${formatAuditEntry(entry)}`);
  }
  return lines.join('\n');
}

export function formatResourceList(views: readonly ResourceView[], heading: string): string {
  if (views.length === 0) return `${heading}: none`;
  const rows = [
    ['RESOURCE', 'VERSION', 'OWN TAGS', 'EFFECTIVE TAGS'],
    ...views.map((v) => [
      v.resource,
      v.registered ? String(v.version) : 'unregistered',
      formatTags(v.tags),
      formatTags(v.effective),
    ]),
  ];
  return [`${heading}:`, ...pad(rows).map((line) => `  ${line}`)].join('\n');
}

const describeDrift = (item: Drift): string =>
  item.kind === 'unregistered'
    ? `${item.resource}: not registered${Object.keys(item.expected).length > 0 ? ` (pg-cdc.yml: ${formatTags(item.expected)})` : ''}`
    : `${item.resource}: ${item.keys
        .map((key) => `${key}=${item.actual?.[key] ?? '(unset)'}, pg-cdc.yml says ${key}=${item.expected[key]}`)
        .join('; ')}`;

export function formatDrift(report: DriftReport, healed?: readonly Drift[]): string {
  const items = healed ?? report.drift;
  const lines: string[] = [];
  if (items.length === 0) {
    lines.push(`${report.database}: registry matches pg-cdc.yml and the lake`);
  } else {
    lines.push(`${report.database}: ${items.length} drift item(s)${healed ? ' healed' : ''}:`);
    for (const item of items) lines.push(`  ${describeDrift(item)}`);
    if (!healed) lines.push('  run `pg-cdc acl sync` to heal');
  }
  if (report.stale.length > 0) {
    lines.push(`registered but no longer in the lake (kept with their history): ${report.stale.join(', ')}`);
  }
  return lines.join('\n');
}

export function formatGrants(grants: readonly BreakGlassGrant[], now: Date): string {
  if (grants.length === 0) return 'no break-glass grants';
  const state = (g: BreakGlassGrant): string =>
    g.endedAt !== null
      ? `ended ${g.endedAt} by ${g.endedBy ?? '?'}`
      : g.expiresAt <= now.toISOString()
        ? 'lapsed'
        : 'active';
  const rows = [
    ['PRINCIPAL', 'RESOURCE', 'EXPIRES', 'STATE', 'GRANTED BY', 'REASON'],
    ...grants.map((g) => [g.principal, g.resource, g.expiresAt, state(g), g.grantedBy, g.reason]),
  ];
  return pad(rows).join('\n');
}
