/**
 * Connections to the source database. Failures become a SourceConnectionError that says where we tried to go
 * (never with the password) and what usually causes that kind of failure.
 */
import pg from 'pg';
import { SourceConnectionError } from '../core/errors/index.js';
import { silentLogger, type Logger } from '../core/log/index.js';
import {
  connectionCredentials,
  type ConnectionCredentials,
  type CredentialOptions,
  type CredentialSettings,
} from './credentials.js';
import type { ProviderSetting } from './provider.js';

/** Structurally `config.source.postgres`. */
export interface SourceSettings extends CredentialSettings {
  readonly url?: string | undefined;
  readonly embedded?: boolean;
  readonly schemas: readonly string[];
  readonly provider?: ProviderSetting;
  readonly application_name?: string;
  readonly connect_timeout_sec?: number;
}

export interface ConnectOptions {
  readonly log?: Logger;
  /** The credentials IAM tokens are signed with (`iam_auth`); default: the AWS SDK's provider chain. */
  readonly awsCredentials?: CredentialOptions['awsCredentials'];
  /** Open a logical replication connection (`replication=database`): for slot creation and the WAL stream. */
  readonly replication?: boolean;
}

export interface SourceTarget {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
}

function parse(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/** The URL with any password replaced by `***`, safe for logs and error messages. */
export function redactUrl(url: string): string {
  const parsed = parse(url);
  if (!parsed) return url.replace(/(\/\/[^:/@]*):[^@/]*@/, '$1:***@').replace(/(password=)[^&\s]*/gi, '$1***');
  if (parsed.password) parsed.password = '***';
  for (const key of [...parsed.searchParams.keys()]) {
    if (key.toLowerCase() === 'password') parsed.searchParams.set(key, '***');
  }
  return parsed.toString();
}

/** Host, port, database and user a URL points at, with libpq's defaults filled in. */
export function describeTarget(url: string): SourceTarget {
  const parsed = parse(url);
  const user = decodeURIComponent(parsed?.username ?? '') || process.env.PGUSER || 'postgres';
  return {
    host: decodeURIComponent(parsed?.hostname ?? '') || parsed?.searchParams.get('host') || 'localhost',
    port: Number(parsed?.port || 5432),
    database: decodeURIComponent(parsed?.pathname.replace(/^\//, '') ?? '') || user,
    user,
  };
}

function hintFor(
  error: unknown,
  target: SourceTarget,
  timeoutSec: number,
  passwordFrom: ConnectionCredentials['source'],
): string {
  const raw = (error as { code?: unknown }).code;
  const code = typeof raw === 'string' ? raw : '';
  const message = error instanceof Error ? error.message : String(error);
  const where = `${target.host}:${target.port}`;
  switch (code) {
    case 'ECONNREFUSED':
      return `nothing accepted the connection at ${where}: is the server running, and do its listen_addresses and port match source.postgres.url?`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name "${target.host}" does not resolve: check source.postgres.url`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${where} is unreachable: check firewalls / security groups between here and the server`;
    case '28P01':
      if (passwordFrom === 'iam') {
        return `the server refused the IAM token for "${target.user}": the role needs GRANT rds_iam and the IAM policy rds-db:connect on this user; check source.postgres.region and that the connection uses TLS`;
      }
      if (passwordFrom === 'password_file') {
        return `password authentication failed for "${target.user}": check the password in source.postgres.password_file`;
      }
      return `password authentication failed for "${target.user}": check the password in source.postgres.url or the environment variable it substitutes (e.g. PGCDC_PASSWORD)`;
    case '28000':
      return `the server refused "${target.user}" on database "${target.database}": add a matching pg_hba.conf entry for this host (on RDS/Aurora check rds.force_ssl and add ?sslmode=require), and check the role has LOGIN`;
    case '3D000':
      return `database "${target.database}" does not exist: fix the database name in source.postgres.url`;
    case '53300':
      return 'the server has no free connection slots: raise max_connections or close idle sessions';
    case '57P03':
      return 'the server is starting up, shutting down or in recovery: retry once it accepts connections';
    default:
      if (/timeout/i.test(message)) {
        return `no answer from ${where} within ${timeoutSec} s: check the network path, or raise source.postgres.connect_timeout_sec`;
      }
      if (/ssl|tls|certificate/i.test(message)) {
        return 'the TLS handshake failed: check sslmode (and sslrootcert) in source.postgres.url';
      }
      return `check source.postgres.url (${target.host}:${target.port}/${target.database}) and that the server accepts connections from this host`;
  }
}

/** A connected client for the source database. The caller ends it. */
export async function connectSource(settings: SourceSettings, options: ConnectOptions = {}): Promise<pg.Client> {
  const log = options.log ?? silentLogger;
  if (!settings.url) {
    throw new SourceConnectionError('no source database URL', {
      hint: settings.embedded
        ? 'embedded: true needs the local cluster started first (pg-cdc does this in dev/demo commands)'
        : 'set source.postgres.url, e.g. postgresql://cdc_user:${PGCDC_PASSWORD}@host:5432/db',
    });
  }
  const target = describeTarget(settings.url);
  // Every connection works out its password afresh: tokens expire and secrets rotate between reconnects.
  const credentials = await connectionCredentials({ ...settings, url: settings.url }, target, {
    ...(options.awsCredentials === undefined ? {} : { awsCredentials: options.awsCredentials }),
  });
  const timeoutSec = settings.connect_timeout_sec ?? 10;
  const client = new pg.Client({
    connectionString: credentials.url,
    application_name: settings.application_name ?? 'pg-cdc',
    connectionTimeoutMillis: Math.round(timeoutSec * 1000),
    ...(options.replication ? { replication: 'database' } : {}),
    keepAlive: true,
  });
  // An idle client whose server goes away emits 'error'; unhandled, that would crash the process.
  client.on('error', (error) => log.warn({ err: error, url: redactUrl(settings.url!) }, 'source connection error'));
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    const reason = error instanceof Error ? error.message : String(error);
    throw new SourceConnectionError(
      `cannot connect to PostgreSQL at ${target.host}:${target.port}/${target.database} as ${target.user}: ${reason}`,
      {
        context: {
          host: target.host,
          port: target.port,
          database: target.database,
          user: target.user,
          password_from: credentials.source,
        },
        hint: hintFor(error, target, timeoutSec, credentials.source),
        cause: error,
      },
    );
  }
  log.debug({ url: redactUrl(settings.url) }, 'connected to the source');
  return client;
}

/** Run `fn` with a fresh source connection, closing it afterwards. */
export async function withSource<R>(
  settings: SourceSettings,
  fn: (client: pg.Client) => Promise<R>,
  options: ConnectOptions = {},
): Promise<R> {
  const client = await connectSource(settings, options);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
