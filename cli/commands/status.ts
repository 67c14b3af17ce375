import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { isPgCdcError } from '../../core/errors/index.js';
import type { PgCdcManifest } from '../../lake/manifest.js';
import { openLake } from '../../lake/open.js';
import { describeTarget, withSource } from '../../source/connection.js';
import { readSlotPosition } from '../../source/slot-position.js';
import { readOldestTransactions, type OldestTransactions } from '../../source/transactions.js';
import { processAlive } from '../../stack/process.js';
import { streamStatusFile } from '../../stream/status-file.js';
import { loadContext, resolveSourceUrl, type CommandContext, type GlobalOptions } from '../context.js';
import { EXIT } from '../exit.js';

interface Failure {
  readonly ok: false;
  readonly error: { readonly code: string; readonly message: string; readonly hint?: string };
}

interface SlotStatus {
  readonly name: string;
  readonly exists: boolean;
  readonly active?: boolean;
  readonly active_pid?: number | null;
  /** PostgreSQL 13+: reserved, extended, unreserved or lost. */
  readonly wal_status?: string | null;
  readonly confirmed_flush_lsn?: string | null;
  readonly restart_lsn?: string | null;
  /** WAL the server keeps for the slot: current LSN − restart_lsn (see source/slot-position.ts). */
  readonly retained_wal_bytes?: number | null;
  /** How far the slot's reader is behind: current LSN − confirmed_flush_lsn. */
  readonly lag_bytes?: number | null;
}

interface SourceStatus {
  readonly ok: true;
  readonly target: string;
  readonly current_lsn: string;
  readonly slot: SlotStatus;
  readonly publication: { readonly name: string; readonly exists: boolean; readonly tables?: number | 'all' };
  /** What holds the slot back on the source side: the oldest open and the oldest prepared transaction. */
  readonly oldest_transaction: OldestTransactions['running'];
  readonly oldest_prepared_transaction: OldestTransactions['prepared'];
}

interface LakeStatus {
  readonly ok: true;
  readonly location: string;
  /** false: nothing has been snapshotted into this lake yet. */
  readonly snapshotted: boolean;
  readonly consistent_point_lsn?: string;
  readonly slot?: string;
  readonly updated_at?: string;
  readonly tables: readonly {
    readonly table: string;
    readonly row_count: number;
    readonly snapshot_id: string | null;
    readonly committed_lsn: string;
    readonly epoch: number;
    readonly schema_version: number;
    /** When the source table was found dropped; its lake data stays as of its last epoch. */
    readonly dropped_at?: string;
  }[];
}

function failure(error: unknown): Failure {
  if (isPgCdcError(error)) {
    return {
      ok: false,
      error: { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) },
    };
  }
  return { ok: false, error: { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) } };
}

async function sourceStatus(context: CommandContext): Promise<SourceStatus> {
  const { config } = context;
  const url = await resolveSourceUrl(context);
  const target = describeTarget(url);
  const { slot, publication } = config.replication;
  return withSource({ ...config.source.postgres, url }, async (client) => {
    const { walEnd, slot: found } = await readSlotPosition(client, slot);
    const { rows: pubs } = await client.query<{ puballtables: boolean; tables: number }>(
      `SELECT p.puballtables, (SELECT count(*)::int FROM pg_publication_tables t WHERE t.pubname = p.pubname) AS tables
         FROM pg_publication p WHERE p.pubname = $1`,
      [publication],
    );
    const pub = pubs[0];
    const oldest = await readOldestTransactions(client);
    return {
      ok: true,
      target: `${target.host}:${target.port}/${target.database}`,
      current_lsn: walEnd ?? '',
      slot: found
        ? {
            name: slot,
            exists: true,
            active: found.active,
            active_pid: found.activePid,
            wal_status: found.walStatus,
            confirmed_flush_lsn: found.confirmedFlushLsn,
            restart_lsn: found.restartLsn,
            retained_wal_bytes: found.retainedBytes,
            lag_bytes: found.lagBytes,
          }
        : { name: slot, exists: false },
      publication: pub
        ? { name: publication, exists: true, tables: pub.puballtables ? 'all' : pub.tables }
        : { name: publication, exists: false },
      oldest_transaction: oldest.running,
      oldest_prepared_transaction: oldest.prepared,
    };
  });
}

async function lakeStatus(context: CommandContext): Promise<LakeStatus> {
  const lake = openLake(context.config);
  // A local warehouse is shown as its directory, as pg-cdc.yml names it.
  const location = lake.root ?? lake.location;
  const manifest: PgCdcManifest | undefined = (await lake.manifest.read())?.value;
  if (!manifest) return { ok: true, location, snapshotted: false, tables: [] };
  return {
    ok: true,
    location,
    snapshotted: true,
    ...(manifest.source.consistent_point_lsn ? { consistent_point_lsn: manifest.source.consistent_point_lsn } : {}),
    slot: manifest.source.slot,
    updated_at: manifest.updated_at,
    tables: Object.entries(manifest.tables)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([table, entry]) => ({
        table,
        row_count: entry.row_count,
        snapshot_id: entry.state.snapshot_id,
        committed_lsn: entry.committed_lsn,
        epoch: entry.epoch,
        schema_version: entry.schema_version,
        ...(entry.dropped_at === undefined ? {} : { dropped_at: entry.dropped_at }),
      })),
  };
}

interface StreamStatus {
  readonly running: boolean;
  readonly pid?: number;
  readonly updated_at?: string;
  /** Age of the oldest change read from the slot but not yet committed to the lake (0: nothing waits). */
  readonly lag_seconds: number | null;
  readonly confirmed_lsn?: string;
  readonly spool_bytes?: number;
  readonly paused_ms?: number;
  readonly reconnects?: number;
  readonly guardrail_exceeded?: boolean;
  /** Tables whose epoch failed for good in the last `pg-cdc start` (until it starts again). */
  readonly failed_tables: readonly FailedTable[];
}

interface FailedTable {
  readonly table: string;
  readonly epoch: number;
  readonly firstLsn: string;
  readonly code: string;
  readonly message: string;
  readonly hint?: string;
}

const isFailedTable = (value: unknown): value is FailedTable =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as FailedTable).table === 'string' &&
  typeof (value as FailedTable).code === 'string';

/** What the last `pg-cdc start` on this state directory reported (it rewrites its status file every second). */
export function streamStatus(stateDir: string): StreamStatus {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(streamStatusFile(stateDir), 'utf8')) as Record<string, unknown>;
  } catch {
    return { running: false, lag_seconds: null, failed_tables: [] };
  }
  const pid = typeof raw.pid === 'number' ? raw.pid : undefined;
  const updated = typeof raw.updated_at === 'string' ? raw.updated_at : undefined;
  const fresh = updated !== undefined && Date.now() - Date.parse(updated) < 30_000;
  const running = raw.running === true && pid !== undefined && processAlive(pid) && fresh;
  const oldest =
    typeof raw.oldest_waiting_commit_time === 'string' ? Date.parse(raw.oldest_waiting_commit_time) : undefined;
  return {
    running,
    ...(pid !== undefined ? { pid } : {}),
    ...(updated ? { updated_at: updated } : {}),
    lag_seconds: running ? (oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000)) : null,
    ...(typeof raw.confirmed_lsn === 'string' ? { confirmed_lsn: raw.confirmed_lsn } : {}),
    ...(typeof raw.spool_bytes === 'number' ? { spool_bytes: raw.spool_bytes } : {}),
    ...(typeof raw.paused_ms === 'number' ? { paused_ms: raw.paused_ms } : {}),
    ...(typeof raw.reconnects === 'number' ? { reconnects: raw.reconnects } : {}),
    ...(typeof raw.guardrail_exceeded === 'boolean' ? { guardrail_exceeded: raw.guardrail_exceeded } : {}),
    failed_tables: Array.isArray(raw.failed_tables) ? raw.failed_tables.filter(isFailedTable) : [],
  };
}

function formatFailedTables(stream: StreamStatus): string[] {
  return stream.failed_tables.flatMap((f) => [
    `  FAILED ${f.table} at epoch ${f.epoch} (slot held at ${f.firstLsn}): ${f.code}: ${f.message}`,
    ...(f.hint ? [`    hint: ${f.hint}`] : []),
  ]);
}

function formatStream(stream: StreamStatus): string[] {
  if (!stream.running) {
    return [
      `stream: not running${stream.updated_at ? ` (last report ${stream.updated_at})` : ''}`,
      ...formatFailedTables(stream),
    ];
  }
  const lag = stream.lag_seconds === null ? 'unknown' : `${stream.lag_seconds.toFixed(1)} s`;
  return [
    `stream: running (pid ${stream.pid}), lag ${lag}, confirmed ${stream.confirmed_lsn ?? '-'}, spool ${formatBytes(stream.spool_bytes)}` +
      `${stream.guardrail_exceeded ? ', RETAINED WAL ABOVE GUARDRAIL' : ''}`,
    ...formatFailedTables(stream),
  ];
}

function formatBytes(value: number | null | undefined): string {
  if (value == null) return 'unknown';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = value;
  let unit = 0;
  while (Math.abs(n) >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${n.toFixed(1)} ${units[unit]}`;
}

function describeFailure(label: string, { error }: Failure): string[] {
  return [`${label}: ${error.code}: ${error.message}`, ...(error.hint ? [`  hint: ${error.hint}`] : [])];
}

function formatSource(source: SourceStatus | Failure): string[] {
  if (!source.ok) return describeFailure('source', source);
  const { slot, publication } = source;
  const lines = [`source ${source.target} (WAL at ${source.current_lsn})`];
  if (!slot.exists) {
    lines.push(`  slot ${slot.name}: does not exist`);
  } else {
    const state = slot.active ? `active (pid ${slot.active_pid ?? '?'})` : 'inactive';
    lines.push(`  slot ${slot.name}: ${state}${slot.wal_status ? `, wal_status ${slot.wal_status}` : ''}`);
    lines.push(`    confirmed_flush_lsn ${slot.confirmed_flush_lsn ?? '-'}, restart_lsn ${slot.restart_lsn ?? '-'}`);
    lines.push(`    WAL retained ${formatBytes(slot.retained_wal_bytes)}, lag ${formatBytes(slot.lag_bytes)}`);
  }
  const tables = publication.tables === 'all' ? 'all tables' : `${publication.tables ?? 0} table(s)`;
  lines.push(`  publication ${publication.name}: ${publication.exists ? tables : 'does not exist'}`);
  lines.push(...formatOldestTransactions(source));
  return lines;
}

function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function formatOldestTransactions(source: SourceStatus): string[] {
  const running = source.oldest_transaction;
  const prepared = source.oldest_prepared_transaction;
  const lines = [
    running
      ? `  oldest source transaction: ${formatAge(running.age_seconds)} (pid ${running.pid}, ${running.user ?? '?'}` +
        `@${running.database ?? '?'}, ${running.state ?? 'unknown state'}, since ${running.started_at})`
      : '  oldest source transaction: none open',
  ];
  if (running?.query) lines.push(`    ${running.query.replace(/\s+/g, ' ').trim()}`);
  if (prepared) {
    lines.push(
      `  oldest prepared transaction: ${formatAge(prepared.age_seconds)} (gid ${prepared.gid}, ${prepared.owner}` +
        `@${prepared.database}, since ${prepared.prepared_at}): COMMIT PREPARED or ROLLBACK PREPARED it`,
    );
  }
  return lines;
}

function formatLake(lake: LakeStatus | Failure): string[] {
  if (!lake.ok) return describeFailure('lake', lake);
  const lines = [`lake ${lake.location}`];
  if (!lake.snapshotted) return [...lines, '  no snapshot yet: run `pg-cdc init`'];
  lines.push(
    `  consistent point ${lake.consistent_point_lsn ?? '-'} (slot ${lake.slot ?? '-'}), updated ${lake.updated_at}`,
  );
  const width = Math.max(0, ...lake.tables.map((t) => t.table.length));
  for (const t of lake.tables) {
    lines.push(
      `  ${t.table.padEnd(width)}  ${t.row_count} rows, snapshot ${t.snapshot_id ?? '-'}, ` +
        `committed ${t.committed_lsn}, epoch ${t.epoch}` +
        (t.dropped_at === undefined ? '' : `, DROPPED at the source ${t.dropped_at} (kept as of its last epoch)`),
    );
  }
  return lines;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('replication slot, WAL retained and lag on the source; tables, snapshots and LSNs in the lake')
    .option('--json', 'print the status as JSON')
    .action(async (options: { json?: boolean }) => {
      const context = await loadContext(program.opts<GlobalOptions>());
      // Each side is reported on its own: an unreachable source must not hide what the lake holds.
      const [source, lake] = await Promise.all([
        sourceStatus(context).catch((error: unknown) => failure(error)),
        lakeStatus(context).catch((error: unknown) => failure(error)),
      ]);
      const stream = streamStatus(context.stateDir);
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ source, stream, lake }, null, 2)}\n`);
      } else {
        const lines = [...formatSource(source), ...formatStream(stream), ...formatLake(lake)];
        process.stdout.write(`${lines.join('\n')}\n`);
      }
      if (!source.ok && !lake.ok) process.exitCode = EXIT.error;
      // A table the stream stopped on is an answer of "no": scripts watching the stream must see it.
      else if (stream.failed_tables.length > 0) process.exitCode = EXIT.notReady;
    });
}
