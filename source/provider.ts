/**
 * Where the source runs. The replication path is the same pgoutput stream everywhere; what differs is how an operator
 * fixes things (parameter groups and `rds_replication` on AWS, postgresql.conf and `ALTER ROLE` elsewhere).
 */
import type pg from 'pg';

export type ProviderSetting = 'auto' | 'self-managed' | 'rds' | 'aurora';
export type Provider = Exclude<ProviderSetting, 'auto'>;

export const PROVIDER_LABELS: Readonly<Record<Provider, string>> = {
  'self-managed': 'self-managed PostgreSQL',
  rds: 'Amazon RDS for PostgreSQL',
  aurora: 'Amazon Aurora PostgreSQL',
};

export interface ProviderDetection {
  /** What pg-cdc acts on: the configured provider when set explicitly, else the detected one. */
  readonly provider: Provider;
  readonly configured: ProviderSetting;
  readonly detected: Provider;
  /** The catalog facts detection was based on. */
  readonly evidence: readonly string[];
  /** Set when an explicit `source.postgres.provider` disagrees with what the server looks like. */
  readonly warning?: string;
}

interface ProviderRow {
  rds_role: boolean;
  rds_setting: boolean;
  aurora_fn: boolean;
  server_version: string;
}

export async function detectProvider(
  client: pg.ClientBase,
  configured: ProviderSetting = 'auto',
): Promise<ProviderDetection> {
  const { rows } = await client.query<ProviderRow>(
    `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS rds_role,
            EXISTS (SELECT 1 FROM pg_settings WHERE name = $2) AS rds_setting,
            EXISTS (SELECT 1 FROM pg_proc WHERE proname = $3) AS aurora_fn,
            current_setting('server_version') AS server_version`,
    ['rds_superuser', 'rds.extensions', 'aurora_version'],
  );
  const row = rows[0]!;
  const evidence: string[] = [];
  if (row.aurora_fn) evidence.push('function aurora_version() exists');
  if (/aurora/i.test(row.server_version)) evidence.push(`server_version "${row.server_version}" mentions Aurora`);
  const aurora = evidence.length > 0;
  if (row.rds_role) evidence.push('role rds_superuser exists');
  if (row.rds_setting) evidence.push('setting rds.extensions exists');
  // Aurora also carries the RDS markers, so it is tested first.
  const detected: Provider = aurora ? 'aurora' : row.rds_role || row.rds_setting ? 'rds' : 'self-managed';
  if (evidence.length === 0)
    evidence.push('no RDS or Aurora markers (rds_superuser, rds.extensions, aurora_version())');

  if (configured === 'auto') return { provider: detected, configured, detected, evidence };
  const detection: ProviderDetection = { provider: configured, configured, detected, evidence };
  if (configured === detected) return detection;
  return {
    ...detection,
    warning:
      `source.postgres.provider is "${configured}" but the server looks like ${PROVIDER_LABELS[detected]} ` +
      `(${evidence.join('; ')}); remediation advice follows the configured provider`,
  };
}

export const isAws = (provider: Provider): boolean => provider === 'rds' || provider === 'aurora';
