import { statSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import { parseLsn } from '../../core/lsn/index.js';
import type { IdentityKey } from './keys.js';
import type { ChangeBatch, ChangeCodec } from './types.js';
import { quoteIdentifier, quoteString, tempTable } from './duck.js';

/**
 * The batch's CSV files as one DuckDB table, which each connection of the epoch reads as `ev`: `ord` (the change's
 * place in commit order, by transaction then `_seq`; unique, not dense), the transaction's xid / commit LSN / commit
 * time, `op`, `unchanged` (field ids), `has_old`, then
 *   o<id>  the converted old identity (k<id>), identity columns only
 *   n<id>  the converted row (c<id>) as received
 *   s<id>  'full-row' only: the new row with unchanged TOAST values taken from the old row sent beside it
 *   from_key / to_key  the identity the change removes / writes (locator keys, see keys.ts)
 */
const DEFAULT_MAX_LINE = 64 * 1024 * 1024;
const MIN_BUFFER = 1024 * 1024;
/** What the reader's buffers are sized to when the rows are known to be shorter: small buffers read as fast. */
const ROW_BUFFER = 4 * 1024 * 1024;

/**
 * The CSV reader's buffer size, which is also the longest line it accepts. DuckDB holds a few such buffers per
 * thread at once, inside its memory_limit, so 64 MiB buffers (the longest row accepted) took 256 MiB of a stream
 * worker for one large transaction, and failed it under a smaller limit. The spool counts each epoch's longest row:
 * the buffers are 4 MiB unless a row needs more. A line is never longer than its file either, so small files get a
 * buffer their size (at least 1 MiB): an epoch of many small files does not allocate and clear 4 MiB per file.
 */
function csvBufferBytes(batch: ChangeBatch): number {
  const largest = Math.max(0, ...batch.files.map((path) => statSync(path, { throwIfNoEntry: false })?.size ?? 0));
  const byFile = Math.max(MIN_BUFFER, largest + 1024);
  const byRow = batch.longestRow === undefined ? DEFAULT_MAX_LINE : Math.max(ROW_BUFFER, batch.longestRow + 1024);
  return Math.min(DEFAULT_MAX_LINE, byFile, byRow);
}

function csvColumns(codec: ChangeCodec): [string, string][] {
  const byId = new Map(codec.columns.map((c) => [c.fieldId, c]));
  return [
    ['_xid', 'BIGINT'],
    ['_seq', 'BIGINT'],
    ['_op', 'VARCHAR'],
    ['_unchanged', 'VARCHAR'],
    ...codec.identity.map((id): [string, string] => [`k${id}`, byId.get(id)!.csvType]),
    ...codec.columns.map((c): [string, string] => [`c${c.fieldId}`, c.csvType]),
  ];
}

/**
 * The raw rows of every file with their transaction's attributes (from temp table `transactions`, which
 * loadTransactions fills); a typed empty relation for an empty batch.
 */
function rawSql(batch: ChangeBatch, codec: ChangeCodec, transactions: string): string {
  const columns = csvColumns(codec);
  if (batch.files.length === 0) {
    const nulls = columns.map(([name, type]) => `CAST(NULL AS ${type}) AS ${name}`).join(', ');
    return (
      `SELECT ${nulls}, 0 AS t, CAST(NULL AS BIGINT) AS xid, CAST(NULL AS BIGINT) AS lsn, ` +
      'CAST(NULL AS TIMESTAMPTZ) AS ts WHERE false'
    );
  }
  const files = batch.files.map(quoteString).join(', ');
  const spec = columns.map(([name, type]) => `${quoteString(name)}: ${quoteString(type)}`).join(', ');
  const buffer = csvBufferBytes(batch);
  // allow_quoted_nulls=false keeps `""` an empty string: only an unquoted empty field is NULL.
  const reader =
    `read_csv([${files}], header = false, auto_detect = false, columns = {${spec}}, ` +
    `delim = ',', quote = '"', escape = '"', nullstr = '', allow_quoted_nulls = false, ` +
    `max_line_size = ${buffer}, buffer_size = ${buffer})`;
  // A row whose _xid is not one of the batch's transactions would be dropped by the join: loadEvents counts them.
  return (
    `SELECT r.*, tx.t, tx.xid, tx.lsn, CAST(tx.ts AS TIMESTAMPTZ) AS ts FROM ${reader} AS r ` +
    `LEFT JOIN ${quoteIdentifier(transactions)} AS tx ON tx.xid = r._xid`
  );
}

/**
 * The batch's transactions as temp table `name` (t: their index, xid, lsn: commit LSN, ts: commit time as text),
 * through the appender. A VALUES list in the statement cost DuckDB's parser and binder superlinear time: 0.4 s for
 * the 5,000 one-row transactions of a pgbench epoch, 3 s for 20,000, on every table of every epoch.
 */
async function loadTransactions(connection: DuckDBConnection, batch: ChangeBatch, name: string): Promise<void> {
  await tempTable(
    connection,
    name,
    { t: 'INTEGER', xid: 'BIGINT', lsn: 'BIGINT', ts: 'VARCHAR' },
    batch.transactions.map((tx, index) => [index, BigInt(tx.xid), parseLsn(tx.commitLsn), tx.commitTime]),
  );
}

/** Up to this many transactions, `t * 2^32 + _seq` stays an exact JS number (below 2^53). */
const COMPUTED_ORD_TRANSACTIONS = 2 ** 20;

/**
 * The change's place in commit order: computed from the transaction's index and `_seq` (a transaction's rows number
 * far below 2^32), because numbering with a window sorted the whole epoch, about as much CPU as reading its CSV.
 * Unique and ordered, not dense; an epoch of more than 2^20 transactions is numbered the sorting way.
 */
function ordSql(batch: ChangeBatch): string {
  return batch.transactions.length <= COMPUTED_ORD_TRANSACTIONS
    ? 'CAST(t AS BIGINT) * 4294967296 + _seq'
    : 'row_number() OVER (ORDER BY t, _seq) - 1';
}

export interface LoadedEvents {
  readonly count: number;
}

/**
 * The events are a table of the (in-memory) database rather than a temp table, which only its own connection sees:
 * the changelog is written by a second connection while the first resolves the state. Each connection reads the
 * table under the name `ev` through a temp view of its own.
 */
export async function useEvents(connection: DuckDBConnection, table: string): Promise<void> {
  await connection.run(`CREATE OR REPLACE TEMP VIEW ev AS SELECT * FROM main.${quoteIdentifier(table)}`);
}

export async function dropEvents(connection: DuckDBConnection, table: string): Promise<void> {
  await connection.run(`DROP TABLE IF EXISTS main.${quoteIdentifier(table)}`);
}

/** Loads the batch into table `table` (a name no other epoch uses) and makes it `connection`'s `ev`. */
export async function loadEvents(
  connection: DuckDBConnection,
  batch: ChangeBatch,
  codec: ChangeCodec,
  key: IdentityKey,
  table: string,
): Promise<LoadedEvents> {
  const identity = codec.identity;
  const hasOld = identity.map((id) => `k${id} IS NOT NULL`).join(' OR ');
  const fullRow = codec.identityKind === 'full-row';
  const selects = [
    `${ordSql(batch)} AS ord`,
    't',
    '_seq AS seq',
    '_op AS op',
    "CAST(list_filter(string_split(coalesce(_unchanged, ''), ' '), lambda x: x <> '') AS INTEGER[]) AS unchanged",
    'xid',
    'lsn',
    'ts',
    `(${hasOld}) AS has_old`,
    ...identity.map((id) => `${codec.columns.find((c) => c.fieldId === id)!.convert(`k${id}`)} AS o${id}`),
    ...codec.columns.map((c) => `${c.convert(`c${c.fieldId}`)} AS n${c.fieldId}`),
  ];
  const state = (id: number): string => (fullRow ? `s${id}` : `n${id}`);
  const fills = fullRow
    ? codec.columns.map(
        (c) =>
          `, CASE WHEN has_old AND list_contains(unchanged, ${c.fieldId}) THEN o${c.fieldId} ELSE n${c.fieldId} END ` +
          `AS s${c.fieldId}`,
      )
    : [];
  const oldKey = key.sql((id) => `o${id}`);
  const newKey = key.sql(state);
  const rowKey = key.sql((id) => `n${id}`);
  const transactions = `${table}_transactions`;
  await loadTransactions(connection, batch, transactions);
  const converted = `SELECT ${selects.join(', ')} FROM (${rawSql(batch, codec, transactions)})`;
  await connection.run(
    `CREATE TABLE main.${quoteIdentifier(table)} AS SELECT *, ` +
      `CASE op WHEN 'U' THEN (CASE WHEN has_old THEN ${oldKey} ELSE ${newKey} END) ` +
      `WHEN 'D' THEN (CASE WHEN has_old THEN ${oldKey} ELSE ${rowKey} END) END AS from_key, ` +
      `CASE WHEN op IN ('I', 'U') THEN ${newKey} END AS to_key ` +
      `FROM (SELECT *${fills.join('')} FROM (${converted}))`,
  );
  await connection.run(`DROP TABLE ${quoteIdentifier(transactions)}`);
  await useEvents(connection, table);
  const summary = await connection.runAndReadAll(
    "SELECT count(*), count(*) FILTER (op NOT IN ('I', 'U', 'D', 'T') OR op IS NULL), " +
      "count(*) FILTER (op = 'D' AND from_key IS NULL), count(*) FILTER (xid IS NULL) FROM ev",
  );
  const [count, badOps, keylessDeletes, strays] = summary.getRowsJS()[0]!.map(Number);
  if (strays) throw new Error(`${strays} change(s) whose _xid is none of the batch's transactions`);
  const announced = batch.transactions.reduce((n, tx) => n + tx.rows, 0);
  if (count !== announced) throw new Error(`the files hold ${count} change(s), the transactions announce ${announced}`);
  if (badOps) throw new Error(`${badOps} change(s) with an _op other than I, U, D, T`);
  if (keylessDeletes) throw new Error(`${keylessDeletes} delete(s) without the row's identity`);
  return { count: count ?? 0 };
}
