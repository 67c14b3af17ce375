/**
 * The password of each new source connection, worked out when the connection is opened and never before: an RDS
 * IAM token is valid for 15 minutes, a mounted secret file or a `${VAR}` in the URL may have been rotated since
 * the last connect. The stream's reconnects, the snapshot's chunks and the replication connections all open
 * through connectSource, which asks here every time.
 */
import { readFile } from 'node:fs/promises';
import { Signer, type SignerConfig } from '@aws-sdk/rds-signer';
import { substituteString } from '../core/config/substitute.js';
import { PgCdcError } from '../core/errors/index.js';
import type { SourceTarget } from './connection.js';

/** What connecting needs of `config.source.postgres` for its password. */
export interface CredentialSettings {
  readonly url?: string | undefined;
  readonly iam_auth?: boolean;
  readonly password_file?: string | undefined;
  /** The URL's password as written, with its `${VAR}` references (core/config/load.ts). */
  readonly password_reference?: string | undefined;
  /** The AWS region of the database, for IAM tokens; default: from an RDS host name, else the SDK's chain. */
  readonly region?: string | undefined;
}

export interface CredentialOptions {
  /** The credentials IAM tokens are signed with; default: the AWS SDK's provider chain. */
  readonly awsCredentials?: SignerConfig['credentials'];
  readonly env?: NodeJS.ProcessEnv;
}

export interface ConnectionCredentials {
  /**
   * The URL to connect with, holding the password worked out for this connection. node-postgres lets the
   * connection string's fields win over its separate options, so the password goes into the URL itself.
   */
  readonly url: string;
  /** Where the password came from, for logs and hints. */
  readonly source: 'url' | 'iam' | 'password_file' | 'environment';
}

/** `my-db.abc123.us-west-2.rds.amazonaws.com` → `us-west-2` (the proxy and cluster endpoints alike). */
export function regionOfRdsHost(host: string): string | undefined {
  return /\.([a-z]{2}(?:-[a-z]+)+-\d+)\.rds\.amazonaws\.com(?:\.cn)?$/.exec(host)?.[1];
}

function withPassword(url: string, password: string, target: SourceTarget): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw credentialError(
      'source.postgres.url is not a URL',
      target,
      'write it as postgresql://user@host:5432/db',
      error,
    );
  }
  // Encoded whole: the setter leaves `%` alone, and a token is full of percent-escapes the parser would decode.
  parsed.password = encodeURIComponent(password);
  return parsed.toString();
}

/** One signer per target: each holds its credential provider, whose resolved credentials the SDK caches. */
const signers = new Map<string, Signer>();

function signerFor(target: SourceTarget, region: string | undefined, options: CredentialOptions): Signer {
  const key = JSON.stringify([target.host, target.port, target.user, region]);
  const existing = options.awsCredentials === undefined ? signers.get(key) : undefined;
  if (existing) return existing;
  const signer = new Signer({
    hostname: target.host,
    port: target.port,
    username: target.user,
    ...(region === undefined ? {} : { region }),
    ...(options.awsCredentials === undefined ? {} : { credentials: options.awsCredentials }),
  });
  if (options.awsCredentials === undefined) signers.set(key, signer);
  return signer;
}

function credentialError(message: string, target: SourceTarget, hint: string, cause: unknown): PgCdcError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new PgCdcError('SOURCE_CREDENTIALS', `${message}: ${reason}`, {
    context: { host: target.host, port: target.port, user: target.user },
    hint,
    cause,
  });
}

/** The URL and password for one new connection to `target`. */
export async function connectionCredentials(
  settings: CredentialSettings & { readonly url: string },
  target: SourceTarget,
  options: CredentialOptions = {},
): Promise<ConnectionCredentials> {
  const url = (password: string) => withPassword(settings.url, password, target);
  if (settings.iam_auth) {
    const region = settings.region ?? regionOfRdsHost(target.host);
    try {
      // A new token for every connection: minting is a local signature (no request), and a token is only checked
      // when a connection is opened, so a connection outlives its token's 15 minutes without harm.
      const token = await signerFor(target, region, options).getAuthToken();
      return { url: url(token), source: 'iam' };
    } catch (error) {
      throw credentialError(
        'cannot mint an RDS IAM token',
        target,
        'the AWS SDK needs credentials (AWS_PROFILE, an instance or task role, AWS_ACCESS_KEY_ID/SECRET) and a region (source.postgres.region, or an RDS host name)',
        error,
      );
    }
  }
  if (settings.password_file !== undefined) {
    try {
      const text = await readFile(settings.password_file, 'utf8');
      return { url: url(text.replace(/\r?\n$/, '')), source: 'password_file' };
    } catch (error) {
      throw credentialError(
        `cannot read source.postgres.password_file ${settings.password_file}`,
        target,
        'check that the file exists and is readable by pg-cdc (a mounted secret may not be there yet)',
        error,
      );
    }
  }
  if (settings.password_reference !== undefined) {
    const resolved = substituteString(settings.password_reference, options.env ?? process.env);
    const problem = resolved.problems[0];
    if (problem) {
      throw new PgCdcError('SOURCE_CREDENTIALS', `the password of source.postgres.url: ${problem.message}`, {
        context: { host: target.host, port: target.port, user: target.user },
        hint: problem.hint,
      });
    }
    return { url: url(safeDecode(resolved.value)), source: 'environment' };
  }
  return { url: settings.url, source: 'url' };
}

/** As the URL parser would have read it: the value was substituted into a URL. */
function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
