import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { TEST_ENV } from './env-names.js';
import { skipLoudlyOrFail } from './skip.js';
import { tempDir } from './temp.js';

/** The shared stack the test command started (see scripts/run-tests.ts). */
function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: integration tests run through \`npm run test:integration [-- <file filter>]\`, which starts the shared PostgreSQL and Temporal`,
    );
  }
  return value;
}

export const sharedPostgresUrl = (): string => required(TEST_ENV.postgresUrl);
export const sharedTemporal = (): { address: string; namespace: string } => ({
  address: required(TEST_ENV.temporalAddress),
  namespace: required(TEST_ENV.temporalNamespace),
});

/** moto's endpoint, or the reason AWS-backed tests must skip (printed loudly by the caller). */
export function motoEndpoint(): { endpoint?: string; skip?: string } {
  const endpoint = process.env[TEST_ENV.motoEndpoint];
  if (endpoint) return { endpoint };
  return { skip: skipLoudlyOrFail('moto is not installed (run `npm run setup` to create the Python virtualenv)') };
}

export const uniqueName = (prefix: string): string => `${prefix}_${randomBytes(4).toString('hex')}`;

function urlForDatabase(url: string, database: string, user?: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  if (user) parsed.username = user;
  return parsed.toString();
}

/** A new database on the shared cluster, so each test owns its tables, publications and slots. */
export async function freshDatabase(prefix = 'test'): Promise<{
  name: string;
  url: (user?: string) => string;
  sql: <R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]) => Promise<R[]>;
}> {
  const name = uniqueName(prefix);
  const admin = new pg.Client({ connectionString: sharedPostgresUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  const url = (user?: string): string => urlForDatabase(sharedPostgresUrl(), name, user);
  return {
    name,
    url,
    async sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<R[]> {
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        return (await client.query<R>(text, params)).rows;
      } finally {
        await client.end();
      }
    },
  };
}

export { tempDir };

/** Write a pg-cdc.yml into a fresh directory and return its path. */
export function writeConfig(yaml: string): string {
  const file = join(tempDir(), 'pg-cdc.yml');
  writeFileSync(file, yaml);
  return file;
}
