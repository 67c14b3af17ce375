/**
 * npm run bench:decode — our pgoutput decoder (source/replication/decoder.ts) against pg-logical-replication 2.x's
 * (PgoutputPlugin's parser), on the same WAL bytes, in one process. A PostgreSQL of its own writes a workload of
 * inserts, updates and deletes; the pgoutput messages are captured once, exactly as a walsender would send them
 * (pg_logical_slot_peek_binary_changes), and then decoded by both in interleaved rounds. Prints each round, the
 * medians' rates and their ratio, and the ratio of each side's fastest round (least moved by a noisy neighbour).
 *
 * Ours keeps values as bytes (the stream copies them into its CSV spool); theirs turns every value into a JS value
 * with pg's type parsers. `ours + text` also reads every value as a string: what a consumer that wants strings pays.
 * BENCH_ROWS (default 200 000 inserts; a quarter as many updates, a tenth as many deletes), BENCH_ROUNDS (default 7).
 */
import { join } from 'node:path';
import { PgoutputPlugin } from 'pg-logical-replication';
import { PgoutputDecoder } from '../source/replication/decoder.js';
import type { PgoutputMessage } from '../source/replication/messages.js';
import { startPostgres } from '../stack/postgres.js';
import { tempDir } from '../test/support/stack.js';
import { median } from './stats.js';

const rows = Number(process.env.BENCH_ROWS ?? 200_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const rate = (n: number, ms: number): string => `${Math.round(n / (ms / 1000)).toLocaleString('en-US')} msg/s`;

/** A decoder under test: decodes every buffer and counts the row changes, so that no result goes unused. */
type Decode = (buffers: readonly Buffer[]) => number;

const ours: Decode = (buffers) => {
  const decoder = new PgoutputDecoder();
  let changes = 0;
  for (const buffer of buffers) if (tupleOf(decoder.decode(buffer))) changes += 1;
  return changes;
};

const oursWithText: Decode = (buffers) => {
  const decoder = new PgoutputDecoder();
  let changes = 0;
  for (const buffer of buffers) {
    const tuple = tupleOf(decoder.decode(buffer));
    if (tuple && tuple.values().length > 0) changes += 1;
  }
  return changes;
};

const CHANGE_TAGS = new Set(['insert', 'update', 'delete']);

const theirs: Decode = (buffers) => {
  // A new plugin per round: its parser caches relations, as ours starts empty.
  const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: ['bench_pub'] });
  let changes = 0;
  for (const buffer of buffers) if (CHANGE_TAGS.has(plugin.parse(buffer).tag)) changes += 1;
  return changes;
};

function tupleOf(message: PgoutputMessage): { length: number; values(): unknown[] } | undefined {
  if (message.tag === 'insert' || message.tag === 'update') return message.newTuple;
  if (message.tag === 'delete') return message.keyTuple ?? message.oldTuple;
  return undefined;
}

const work = tempDir('pg-cdc-bench-decode-');
const postgres = await startPostgres({ dataDir: join(work, 'pg', 'data'), durable: false, walLevel: 'logical' });
try {
  await postgres.createDatabase('bench');
  const sql = async (text: string): Promise<Record<string, unknown>[]> =>
    (await postgres.query(text, [], 'bench')).rows;
  await sql(`CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, amount numeric(12,2) NOT NULL,
               status text NOT NULL, placed_at timestamptz NOT NULL, note text)`);
  await sql(`CREATE PUBLICATION bench_pub FOR TABLE orders`);
  await sql(`SELECT pg_create_logical_replication_slot('bench_decode', 'pgoutput')`);
  for (let from = 1; from <= rows; from += 10_000) {
    const to = Math.min(rows, from + 9_999);
    await sql(`INSERT INTO orders SELECT g, g % 5000, (g % 10000) / 7.0, 'new', now(),
                 CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END FROM generate_series(${from}, ${to}) g`);
  }
  await sql(`UPDATE orders SET status = 'paid', amount = amount + 1 WHERE id <= ${Math.floor(rows / 4)}`);
  await sql(`DELETE FROM orders WHERE id > ${rows - Math.floor(rows / 10)}`);
  // The cluster commits asynchronously (durable: false), and decoding stops at the WAL flushed so far.
  await sql('CHECKPOINT');

  const started = Date.now();
  const captured = await sql(
    `SELECT data FROM pg_logical_slot_peek_binary_changes('bench_decode', NULL, NULL,
       'proto_version', '1', 'publication_names', 'bench_pub')`,
  );
  const buffers = captured.map((row) => row.data as Buffer);
  const bytes = buffers.reduce((sum, buffer) => sum + buffer.length, 0);
  say(
    `bench:decode — ${buffers.length.toLocaleString('en-US')} pgoutput messages (${(bytes / 2 ** 20).toFixed(1)} MiB; ` +
      `${rows.toLocaleString('en-US')} inserts, ${Math.floor(rows / 4).toLocaleString('en-US')} updates, ` +
      `${Math.floor(rows / 10).toLocaleString('en-US')} deletes), captured in ${Date.now() - started} ms, ` +
      `PostgreSQL ${postgres.version}`,
  );

  const sides: [string, Decode][] = [
    ['ours', ours],
    ['ours + text', oursWithText],
    ['pg-logical-replication', theirs],
  ];
  // All sides see the same row changes before anything is timed.
  const expected = rows + Math.floor(rows / 4) + Math.floor(rows / 10);
  for (const [name, decode] of sides) {
    const changes = decode(buffers);
    if (changes !== expected) throw new Error(`${name} decoded ${changes} row changes, not ${expected}`);
  }
  const times = new Map<string, number[]>(sides.map(([name]) => [name, []]));
  for (let round = 1; round <= rounds; round++) {
    // Interleaved, each round in another order, so that neither side always runs on a warmer (or busier) machine.
    const order = round % 2 === 1 ? sides : [...sides].reverse();
    const line: string[] = [];
    for (const [name, decode] of order) {
      const start = process.hrtime.bigint();
      decode(buffers);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      times.get(name)!.push(ms);
      line.push(`${name} ${rate(buffers.length, ms)}`);
    }
    say(`round ${round}: ${line.join(', ')}`);
  }
  const medianOf = (name: string): number => median(times.get(name)!);
  const bestOf = (name: string): number => Math.min(...times.get(name)!);
  for (const [name] of sides) say(`${name}: median ${rate(buffers.length, medianOf(name))}`);
  const ratio = (a: string, b: string): string =>
    `${(medianOf(b) / medianOf(a)).toFixed(2)}x (medians), ${(bestOf(b) / bestOf(a)).toFixed(2)}x (fastest rounds)`;
  say(`ours vs pg-logical-replication: ${ratio('ours', 'pg-logical-replication')}`);
  say(`ours + text vs pg-logical-replication: ${ratio('ours + text', 'pg-logical-replication')}`);
} finally {
  await postgres.stop();
}
