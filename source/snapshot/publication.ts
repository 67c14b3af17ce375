import type pg from 'pg';
import { PgCdcError } from '../../core/errors/index.js';
import { quoteIdent, quoteQualified } from '../../core/selection/index.js';

export interface QualifiedTable {
  readonly schema: string;
  readonly name: string;
}

export class PublicationMismatchError extends PgCdcError {
  constructor(publication: string, missing: string[], extra: string[]) {
    const parts = [
      missing.length ? `lacks ${missing.join(', ')}` : '',
      extra.length ? `also publishes ${extra.join(', ')}` : '',
    ].filter(Boolean);
    super(
      'PUBLICATION_MISMATCH',
      `publication ${publication} exists with a different table set: it ${parts.join(' and ')}`,
      {
        context: { publication },
        hint: `pg-cdc does not silently reuse a publication that disagrees with the configuration: run \`pg-cdc teardown\`, set replication.publication to a new name, or align it with ALTER PUBLICATION ${quoteIdent(publication)} SET TABLE ...`,
      },
    );
  }
}

const key = (table: QualifiedTable): string => `${table.schema}.${table.name}`;

/**
 * Make sure a publication for exactly `tables` exists: create it when missing, accept it when it already matches,
 * refuse when it differs. Returns whether it was created.
 */
export async function ensurePublication(
  client: pg.ClientBase,
  publication: string,
  tables: readonly QualifiedTable[],
): Promise<{ created: boolean }> {
  const exists = await client.query<{ puballtables: boolean }>(
    'SELECT puballtables FROM pg_publication WHERE pubname = $1',
    [publication],
  );
  const wanted = new Set(tables.map(key));
  if (exists.rowCount === 0) {
    const list = tables.map((t) => quoteQualified(t.schema, t.name)).join(', ');
    await client.query(`CREATE PUBLICATION ${quoteIdent(publication)} FOR TABLE ${list}`);
    return { created: true };
  }
  if (exists.rows[0]?.puballtables) throw new PublicationMismatchError(publication, [], ['ALL TABLES']);
  const { rows } = await client.query<{ schemaname: string; tablename: string }>(
    'SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1',
    [publication],
  );
  const published = new Set(rows.map((r) => `${r.schemaname}.${r.tablename}`));
  const missing = [...wanted].filter((t) => !published.has(t)).sort();
  const extra = [...published].filter((t) => !wanted.has(t)).sort();
  if (missing.length || extra.length) throw new PublicationMismatchError(publication, missing, extra);
  return { created: false };
}

export async function dropPublication(client: pg.ClientBase, publication: string): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [publication]);
  if (!rowCount) return false;
  await client.query(`DROP PUBLICATION ${quoteIdent(publication)}`);
  return true;
}
