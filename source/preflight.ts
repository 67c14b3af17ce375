/**
 * `pg-cdc preflight`: is the source ready for logical replication, and if not, exactly what to run to make it so.
 * Remediation follows the provider, since on RDS/Aurora settings live in parameter groups and REPLICATION is granted
 * through the `rds_replication` role. A source we cannot reach throws instead of producing a report.
 */
import type pg from 'pg';
import { silentLogger, type Logger } from '../core/log/index.js';
import {
  identityBlocked,
  quoteIdent,
  quoteQualified,
  type SelectionResult,
  type TableSelectionRules,
} from '../core/selection/index.js';
import {
  readPublication,
  readServerFacts,
  readTablePrivileges,
  type CatalogTable,
  type PublicationInfo,
  type ServerFacts,
} from './catalog.js';
import {
  describeTarget,
  withSource,
  type ConnectOptions,
  type SourceSettings,
  type SourceTarget,
} from './connection.js';
import { discoverWithClient } from './discover.js';
import { detectProvider, isAws, PROVIDER_LABELS, type Provider, type ProviderDetection } from './provider.js';
import { readSlotPosition, type SlotState } from './slot-position.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface PreflightCheck {
  readonly id: string;
  readonly status: CheckStatus;
  readonly summary: string;
  readonly detail?: string;
  readonly remediation?: string;
  /** For per-table checks: the "schema.table" concerned. */
  readonly table?: string;
}

/** Structurally `config.replication`. */
export interface ReplicationSettings {
  readonly publication: string;
  readonly slot: string;
  readonly protocol_version?: 'auto' | 1 | 2;
}

export interface PreflightReport {
  /** No check failed. Warnings do not block. */
  readonly ready: boolean;
  readonly target: SourceTarget;
  readonly serverVersion: string;
  readonly majorVersion: number;
  /** The pgoutput protocol versions this server accepts. */
  readonly protocolVersions: readonly number[];
  readonly provider: ProviderDetection;
  readonly checks: readonly PreflightCheck[];
  readonly selection?: SelectionResult<CatalogTable>;
}

// The server major each pgoutput protocol version needs: 2 streams in-progress transactions, 3 two-phase, 4 parallel.
const PGOUTPUT_SINCE = [10, 14, 15, 16];

export function pgoutputProtocolVersions(major: number): number[] {
  return PGOUTPUT_SINCE.flatMap((since, i) => (major >= since ? [i + 1] : []));
}

function check(id: string, status: CheckStatus, summary: string, more: Partial<PreflightCheck> = {}): PreflightCheck {
  return { id, status, summary, ...more };
}

/** How an operator changes a server setting on this provider. */
function settingFix(provider: Provider, name: string, value: string | number): string {
  if (provider === 'self-managed') return `ALTER SYSTEM SET ${name} = ${value};  -- then restart PostgreSQL`;
  const group = provider === 'aurora' ? 'DB cluster parameter group' : 'DB parameter group';
  return `set ${name} = ${value} in the ${group}, then reboot the ${provider === 'aurora' ? 'writer ' : ''}instance`;
}

function listed(names: readonly string[], max = 10): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

function headroom(id: string, what: string, used: number, max: number, fix: string): PreflightCheck {
  const free = max - used;
  const base = `${what}: ${used} of ${max} in use`;
  if (free <= 0) return check(id, 'fail', `${base}, none free for pg-cdc`, { remediation: fix });
  if (free === 1) return check(id, 'warn', `${base}: pg-cdc takes the last free one`, { remediation: fix });
  return check(id, 'ok', `${base}, ${free} free`);
}

function serverChecks(s: ServerFacts, major: number, p: Provider, r: ReplicationSettings, slot?: SlotState) {
  const protocols = pgoutputProtocolVersions(major).join(', ');
  const detail = '1 from 10; 2 (streaming of large in-progress transactions) from 14; 3 (two-phase) from 15; 4 from 16';
  const checks = [
    r.protocol_version === 2 && major < 14
      ? check('server-version', 'fail', `replication.protocol_version: 2 needs PostgreSQL 14+, not ${s.version}`, {
          remediation: 'set replication.protocol_version: auto (or 1)',
        })
      : check('server-version', 'ok', `PostgreSQL ${s.version}: pgoutput protocol ${protocols}`, { detail }),
    s.wal_level === 'logical'
      ? check('wal-level', 'ok', 'wal_level = logical')
      : check('wal-level', 'fail', `wal_level = ${s.wal_level}: logical replication needs wal_level = logical`, {
          remediation: isAws(p)
            ? `${settingFix(p, 'rds.logical_replication', 1)} (this sets wal_level = logical)`
            : settingFix(p, 'wal_level', 'logical'),
        }),
  ];
  const slotsFix = `${settingFix(p, 'max_replication_slots', s.max_slots + 4)}; or drop unused slots`;
  const sendersFix = settingFix(p, 'max_wal_senders', s.max_senders + 4);
  const slots = `replication slots: ${s.used_slots} of ${s.max_slots} in use, ${r.slot} included`;
  checks.push(
    slot
      ? check('replication-slots', 'ok', slots)
      : headroom('replication-slots', 'replication slots', s.used_slots, s.max_slots, slotsFix),
    slot?.active
      ? check('wal-senders', 'ok', `WAL senders: ${s.used_senders} of ${s.max_senders} in use`)
      : headroom('wal-senders', 'WAL senders', s.used_senders, s.max_senders, sendersFix),
  );
  return checks;
}

function accessChecks(s: ServerFacts, p: Provider, r: ReplicationSettings, pub?: PublicationInfo): PreflightCheck[] {
  const role = quoteIdent(s.user);
  const checks: PreflightCheck[] = [];
  if (s.superuser) checks.push(check('replication-role', 'ok', `role ${s.user} is a superuser`));
  else if (s.replication) checks.push(check('replication-role', 'ok', `role ${s.user} has REPLICATION`));
  else if (s.rds_replication) checks.push(check('replication-role', 'ok', `role ${s.user} is in rds_replication`));
  else {
    const why = isAws(p) ? 'is not a member of rds_replication' : 'lacks the REPLICATION attribute';
    checks.push(
      check('replication-role', 'fail', `role ${s.user} ${why}, so it cannot stream changes`, {
        remediation: isAws(p) ? `GRANT rds_replication TO ${role};` : `ALTER ROLE ${role} REPLICATION;`,
      }),
    );
  }
  const grant = `GRANT CREATE ON DATABASE ${quoteIdent(s.database)} TO ${role};`;
  if (s.superuser || s.can_create) {
    checks.push(check('create-privilege', 'ok', `role ${s.user} may create publications in ${s.database}`));
  } else if (pub?.owned) {
    checks.push(check('create-privilege', 'ok', `no CREATE on ${s.database}, but ${s.user} owns ${r.publication}`));
  } else if (pub) {
    const summary = `publication ${r.publication} belongs to ${pub.owner} and ${s.user} lacks CREATE on ${s.database}: pg-cdc cannot change its table list`;
    const remediation = `${grant}  -- or: ALTER PUBLICATION ${quoteIdent(r.publication)} OWNER TO ${role};`;
    checks.push(check('create-privilege', 'warn', summary, { remediation }));
  } else {
    const summary = `role ${s.user} lacks CREATE on database ${s.database}, needed to create publication ${r.publication}`;
    checks.push(check('create-privilege', 'fail', summary, { remediation: grant }));
  }
  return checks;
}

const retainedWal = ({ retainedBytes }: SlotState): string =>
  retainedBytes === null ? '' : ` and retains ${(retainedBytes / 2 ** 20).toFixed(1)} MiB of WAL`;

function slotAndPublicationChecks(s: ServerFacts, r: ReplicationSettings, slot?: SlotState, pub?: PublicationInfo) {
  const checks: PreflightCheck[] = [];
  if (!slot) checks.push(check('slot', 'ok', `slot ${r.slot} does not exist yet; pg-cdc creates it`));
  else if (slot.slotType !== 'logical' || slot.plugin !== 'pgoutput' || slot.database !== s.database) {
    const what = `${slot.slotType}, plugin ${slot.plugin ?? 'none'}, database ${slot.database ?? 'none'}`;
    checks.push(
      check('slot', 'fail', `slot ${r.slot} exists but is not a pgoutput slot on ${s.database} (${what})`, {
        remediation: `choose another replication.slot, or drop it if nothing needs it: SELECT pg_drop_replication_slot('${r.slot}');`,
      }),
    );
  } else {
    const summary = slot.active
      ? `slot ${r.slot} exists and process ${slot.activePid ?? '?'} is streaming from it`
      : `slot ${r.slot} already exists${retainedWal(slot)}: pg-cdc resumes from it`;
    const remediation =
      'if it is left over from an earlier run, remove it (and the publication) with `pg-cdc teardown`';
    checks.push(check('slot', 'warn', summary, { remediation }));
  }
  if (!pub) {
    checks.push(check('publication', 'ok', `publication ${r.publication} does not exist yet; pg-cdc creates it`));
  } else {
    const missing = (['insert', 'update', 'delete'] as const).filter((op) => !pub[`pub${op}`]);
    const scope = pub.puballtables ? 'FOR ALL TABLES' : `${pub.tables} tables`;
    const summary = `publication ${r.publication} exists (${scope}, owner ${pub.owner})`;
    checks.push(
      missing.length === 0
        ? check('publication', 'ok', summary)
        : check('publication', 'warn', `${summary} but does not publish ${missing.join(', ')}`, {
            remediation: `ALTER PUBLICATION ${quoteIdent(r.publication)} SET (publish = 'insert, update, delete');`,
          }),
    );
  }
  return checks;
}

function selectionChecks(selection: SelectionResult<CatalogTable>, schemas: readonly string[]): PreflightCheck[] {
  const names = selection.selected.map((d) => d.qualifiedName);
  const checks = [
    names.length > 0
      ? check('tables', 'ok', `${names.length} table(s) selected`, { detail: listed(names, 50) })
      : check('tables', 'fail', 'no table is selected', {
          detail: `${selection.decisions.length} table(s) found; \`pg-cdc discover\` shows why each is left out`,
          remediation: `check source.postgres.schemas (now: ${schemas.join(', ')}), tables.include, tables.exclude and tables.policy`,
        }),
  ];
  for (const d of [...identityBlocked(selection), ...selection.excluded.filter((e) => e.code === 'unlogged')]) {
    const t = quoteQualified(d.table.schema, d.table.name);
    const identity = d.table.replicaIdentity === 'nothing' && d.table.hasPrimaryKey ? 'DEFAULT' : 'FULL';
    const remediation =
      d.code === 'unlogged'
        ? `ALTER TABLE ${t} SET LOGGED;`
        : `ALTER TABLE ${t} REPLICA IDENTITY ${identity};${d.table.hasPrimaryKey ? '' : '  -- or add a primary key'}`;
    const summary = `${d.qualifiedName} is left out: ${d.reason.split(';')[0]!}`;
    const id = d.code === 'unlogged' ? 'unlogged-table' : 'replica-identity';
    checks.push(check(id, 'warn', summary, { table: d.qualifiedName, remediation }));
  }
  return checks;
}

/** SELECT for the snapshot, and ownership to add a table to the publication unless it is already in it. */
async function privilegeCheck(
  client: pg.ClientBase,
  s: ServerFacts,
  r: ReplicationSettings,
  selection: SelectionResult<CatalogTable>,
  pub?: PublicationInfo,
): Promise<PreflightCheck> {
  const rows = await readTablePrivileges(
    client,
    selection.selected.map((d) => d.table.oid),
    r.publication,
  );
  const nameOf = new Map(selection.selected.map((d) => [d.table.oid, quoteQualified(d.table.schema, d.table.name)]));
  const unreadable = rows.filter((row) => !row.can_select).map((row) => nameOf.get(row.oid)!);
  const unowned = pub?.puballtables
    ? []
    : rows.filter((row) => !row.owned && !row.published).map((row) => nameOf.get(row.oid)!);
  if (unreadable.length + unowned.length === 0) {
    return check('table-privileges', 'ok', `role ${s.user} can read and publish every selected table`);
  }
  const pubName = quoteIdent(r.publication);
  const problems: string[] = [];
  const fixes: string[] = [];
  if (unreadable.length > 0) {
    problems.push(`no SELECT (needed for the snapshot) on ${listed(unreadable)}`);
    fixes.push(`GRANT SELECT ON ${listed(unreadable, 50)} TO ${quoteIdent(s.user)};`);
  }
  if (unowned.length > 0) {
    problems.push(`does not own ${listed(unowned)}, so cannot add them to publication ${r.publication}`);
    const sql = pub ? `ALTER PUBLICATION ${pubName} ADD TABLE` : `CREATE PUBLICATION ${pubName} FOR TABLE`;
    fixes.push(`as a superuser or the tables' owner: ${sql} ${listed(unowned, 50)};`);
  }
  return check('table-privileges', 'fail', `role ${s.user}: ${problems.join('; ')}`, { remediation: fixes.join('\n') });
}

export async function preflightWithClient(
  client: pg.ClientBase,
  settings: SourceSettings,
  rules: TableSelectionRules,
  replication: ReplicationSettings,
  log: Logger = silentLogger,
): Promise<PreflightReport> {
  const provider = await detectProvider(client, settings.provider ?? 'auto');
  log.info({ provider: provider.provider, detected: provider.detected }, 'source provider');
  if (provider.warning) log.warn(provider.warning);
  const label = `${PROVIDER_LABELS[provider.provider]} (${provider.configured === 'auto' ? 'detected' : 'configured'})`;
  const checks = [
    check('provider', provider.warning ? 'warn' : 'ok', label, {
      detail: provider.warning ?? provider.evidence.join('; '),
    }),
  ];

  const s = await readServerFacts(client);
  // server_version_num is 90600 for 9.6 and 160002 for 16.2.
  const major =
    s.version_num >= 100000
      ? Math.floor(s.version_num / 10000)
      : Math.floor(s.version_num / 10000) + (Math.floor(s.version_num / 100) % 100) / 10;
  const report = (selection?: SelectionResult<CatalogTable>): PreflightReport => ({
    ready: checks.every((c) => c.status !== 'fail'),
    target: { ...describeTarget(settings.url ?? ''), database: s.database, user: s.user },
    serverVersion: s.version,
    majorVersion: major,
    protocolVersions: pgoutputProtocolVersions(major),
    provider,
    checks,
    ...(selection ? { selection } : {}),
  });
  if (major < 10) {
    const summary = `PostgreSQL ${s.version}: logical replication with pgoutput needs PostgreSQL 10 or later`;
    checks.push(check('server-version', 'fail', summary, { remediation: 'upgrade to a supported PostgreSQL release' }));
    return report();
  }

  const { slot } = await readSlotPosition(client, replication.slot);
  const pub = await readPublication(client, replication.publication);
  checks.push(...serverChecks(s, major, provider.provider, replication, slot));
  checks.push(...accessChecks(s, provider.provider, replication, pub));
  checks.push(...slotAndPublicationChecks(s, replication, slot, pub));
  const selection = await discoverWithClient(client, settings.schemas, rules);
  checks.push(...selectionChecks(selection, settings.schemas));
  if (!s.superuser && selection.selected.length > 0) {
    checks.push(await privilegeCheck(client, s, replication, selection, pub));
  }
  return report(selection);
}

export async function runPreflight(
  settings: SourceSettings,
  rules: TableSelectionRules,
  replication: ReplicationSettings,
  options: ConnectOptions = {},
): Promise<PreflightReport> {
  return withSource(
    settings,
    (client) => preflightWithClient(client, settings, rules, replication, options.log),
    options,
  );
}

/** 0 ready, 1 not ready. (A source that cannot be reached throws; the CLI maps that to 2.) */
export function preflightExitCode(report: PreflightReport): 0 | 1 {
  return report.ready ? 0 : 1;
}

const MARKS: Readonly<Record<CheckStatus, string>> = { ok: '✓', warn: '!', fail: '✗' };

export function formatPreflightReport(report: PreflightReport): string {
  const { target } = report;
  const lines = [
    `preflight: ${target.database} on ${target.host}:${target.port} as ${target.user} (PostgreSQL ${report.serverVersion}, ${PROVIDER_LABELS[report.provider.provider]})`,
  ];
  const width = Math.max(...report.checks.map((c) => c.id.length));
  for (const check of report.checks) {
    lines.push(`  ${MARKS[check.status]} ${check.id.padEnd(width)}  ${check.summary}`);
    if (check.detail && check.status !== 'ok') lines.push(`      ${check.detail}`);
    for (const line of check.remediation?.split('\n') ?? []) lines.push(`      fix: ${line}`);
  }
  const count = (status: CheckStatus, word: string) => {
    const n = report.checks.filter((c) => c.status === status).length;
    return n === 0 ? '' : `${n} ${word}${n === 1 ? '' : 's'}`;
  };
  const warnings = count('warn', 'warning');
  lines.push(
    report.ready
      ? `ready${warnings ? ` (${warnings})` : ''}`
      : `not ready: ${[count('fail', 'failed check'), warnings].filter(Boolean).join(', ')}`,
  );
  return lines.join('\n');
}
