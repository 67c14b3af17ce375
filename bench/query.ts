/**
 * npm run bench:query — the governed read path against the bare files. A 10 M-row table (Parquet written by
 * DuckDB, committed with the Iceberg writer, tagged so the role `analyst` may read it) is queried with a filtered
 * aggregate N times through MCP (SDK client, in-memory transport), through REST (a real socket), and directly on
 * the Parquet with DuckDB (the ceiling). Prints p50/p99 of each and governed/direct (target: p50 within 1.5x).
 * BENCH_ROWS overrides the 10 M rows, BENCH_RUNS the 30 timed runs per path.
 */
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { sha256Hex } from '../api/http/auth.js';
import { createMcpServer } from '../api/mcp/server.js';
import { queryOutput } from '../api/schemas/outputs.js';
import { createServeRuntime, listenHttp } from '../api/serve.js';
import { parseConfig } from '../core/config/index.js';
import { createLogger } from '../core/log/index.js';
import { formatLsn } from '../core/lsn/index.js';
import { createQueryEngine } from '../engine/index.js';
import { openAccessPolicy, readLakeInventory, registerLake, Registry } from '../governance/index.js';
import { pgcdcSummary } from '../lake/contract/index.js';
import { appendFiles, createTable } from '../lake/iceberg/table.js';
import { openLake } from '../lake/open.js';
import { openDuckDB } from '../lake/parquet/writer.js';
import { tempDir } from '../test/support/stack.js';

const rows = Number(process.env.BENCH_ROWS ?? 10_000_000);
const runs = Number(process.env.BENCH_RUNS ?? 30);
const WARMUP = 3;
const THRESHOLD = 500;
const TOKEN = 'bench-analyst-token';
const say = (line: string): void => void process.stdout.write(`${line}\n`);

const work = tempDir('pg-cdc-bench-query-');
const lakeDir = join(work, 'lake');
const config = parseConfig(
  [
    `state_dir: ${join(work, 'state')}`,
    'source: { postgres: { url: "postgresql://bench@localhost/bench" } }',
    `storage: { path: ${lakeDir} }`,
    'log: { level: warn }',
    'tables:',
    '  tags:',
    '    "bench.*": { sensitivity: internal }',
    'governance:',
    '  roles:',
    '    analyst: { grant: "sensitivity = internal" }',
    'serve:',
    '  http:',
    `    tokens: [{ principal: analyst, sha256: ${sha256Hex(TOKEN)} }]`,
    '    rate_limit_per_minute: 1000000',
  ].join('\n'),
);
const log = createLogger({ level: 'warn' });

/** The table: one zstd Parquet file written by DuckDB, one Iceberg snapshot, one manifest entry, registered tags. */
async function buildLake(): Promise<string> {
  const { store, catalog, manifest } = openLake(config);
  const key = 'bench/sales/data/part-00000.parquet';
  // The bench's lake is a filesystem one (storage.path above), where DuckDB writes the file in place.
  const path = store.localPath(key) ?? join(lakeDir, key);
  mkdirSync(dirname(path), { recursive: true });
  const duck = await openDuckDB();
  const started = Date.now();
  try {
    await duck.connection.run(
      `COPY (SELECT i::BIGINT AS id,
                    (['north', 'south', 'east', 'west', 'central'])[(hash(i) % 5)::INTEGER + 1] AS region,
                    ((hash(i * 7) % 100000) / 100)::DECIMAL(12, 2) AS amount,
                    (i % 17)::INTEGER AS qty
               FROM range(${rows}) AS t(i))
         TO '${path}' (FORMAT parquet, COMPRESSION zstd, FIELD_IDS {id: 1, region: 2, amount: 3, qty: 4})`,
    );
  } finally {
    duck.close();
  }
  const identifier = 'bench.sales';
  await createTable(store, catalog, {
    identifier,
    location: 'bench/sales',
    schema: {
      type: 'struct',
      'schema-id': 0,
      'identifier-field-ids': [1],
      fields: [
        { id: 1, name: 'id', required: true, type: 'long' },
        { id: 2, name: 'region', required: false, type: 'string' },
        { id: 3, name: 'amount', required: false, type: 'decimal(12, 2)' },
        { id: 4, name: 'qty', required: false, type: 'int' },
      ],
    },
  });
  const size = statSync(path).size;
  const committed = await appendFiles(store, catalog, identifier, {
    dataFiles: [{ path: store.uri(key), recordCount: rows, fileSizeInBytes: size }],
    summary: pgcdcSummary({ kind: 'snapshot', epoch: 0, lsn: formatLsn(0x1000000n) }),
  });
  await manifest.update(() => ({
    format_version: 1,
    updated_at: new Date().toISOString(),
    source: { database: 'bench', slot: 'bench_slot', publication: 'bench_pub', consistent_point_lsn: '0/1000000' },
    tables: {
      [identifier]: {
        state: {
          metadata_location: committed.table.metadataLocation,
          snapshot_id: String(committed.snapshot['snapshot-id']),
          schema_id: 0,
        },
        columns: ['id', 'region', 'amount', 'qty'],
        primary_key: ['id'],
        row_count: rows,
        epoch: 0,
        committed_lsn: '0/1000000',
        schema_version: 0,
      },
    },
  }));
  const registry = Registry.forConfig(config);
  try {
    const inventory = await readLakeInventory(config);
    await registerLake(registry, config, inventory!, { actor: 'bench', reason: 'bench:query' });
  } finally {
    await registry.close();
  }
  say(
    `table bench.sales: ${rows.toLocaleString('en-US')} rows, ${(size / 1024 / 1024).toFixed(0)} MiB Parquet, ` +
      `written in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  return path;
}

const SQL = (from: string) =>
  `SELECT region, count(*) AS n, sum(amount) AS total FROM ${from} WHERE amount > ${THRESHOLD} GROUP BY region ORDER BY region`;

interface Path {
  readonly label: string;
  readonly once: () => Promise<unknown[][]>;
  readonly ms: number[];
  rows: unknown[][];
}

const path = (label: string, once: () => Promise<unknown[][]>): Path => ({ label, once, ms: [], rows: [] });

/**
 * The paths take turns, run by run (in a rotating order), so a burst of load from anything else on the machine
 * lands on all of them alike instead of on whichever path happened to be running.
 */
async function race(paths: readonly Path[]): Promise<void> {
  for (let round = 0; round < WARMUP + runs; round++) {
    for (let k = 0; k < paths.length; k++) {
      const current = paths[(round + k) % paths.length]!;
      const started = performance.now();
      current.rows = await current.once();
      if (round >= WARMUP) current.ms.push(performance.now() - started);
    }
  }
}

const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

const parquet = await buildLake();
const policy = openAccessPolicy(config);
const engine = createQueryEngine({ config, policy, log });
const runtime = createServeRuntime({ config, log, version: 'bench', engine, policy });
const http = await listenHttp(runtime, { host: '127.0.0.1', port: 0 });
const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
await createMcpServer({
  service: runtime.service,
  instrumentation: runtime.instrumentation,
  principal: 'analyst',
  version: 'bench',
}).connect(serverSide);
const mcp = new Client({ name: 'bench', version: '1' });
await mcp.connect(clientSide);
const duck = await openDuckDB({ allowedDirectories: [lakeDir] });

try {
  const governedSql = SQL('"bench"."sales"');
  const direct = path('direct DuckDB on the Parquet', async () => {
    const reader = await duck.connection.runAndReadAll(SQL(`read_parquet('${parquet}')`));
    return reader.getRowsJson();
  });
  const viaEngine = path('engine.query (no front door)', async () => {
    const result = await engine.query('analyst', { kind: 'sql', sql: governedSql });
    return result.rows.map((row) => [...row]);
  });
  const viaMcp = path('MCP query tool (in-memory)', async () => {
    const result = (await mcp.callTool({ name: 'query', arguments: { sql: governedSql } })) as CallToolResult;
    if (result.isError) throw new Error(JSON.stringify(result.content));
    return queryOutput.parse(result.structuredContent).rows;
  });
  const viaRest = path('REST POST /v1/query (socket)', async () => {
    const response = await fetch(`${http.url}/v1/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sql: governedSql }),
    });
    if (response.status !== 200) throw new Error(await response.text());
    return queryOutput.parse(await response.json()).rows;
  });

  await race([direct, viaEngine, viaMcp, viaRest]);
  const normalize = (result: unknown[][]): string => JSON.stringify(result.map((row) => row.map((v) => String(v))));
  for (const governed of [viaEngine, viaMcp, viaRest]) {
    if (normalize(governed.rows) !== normalize(direct.rows)) {
      throw new Error(`${governed.label} returned ${normalize(governed.rows)}, direct ${normalize(direct.rows)}`);
    }
  }
  say(
    `query: ${governedSql}  (${runs} timed runs per path after ${WARMUP} warm-up, paths interleaved; results identical on all paths)`,
  );
  const base = percentile(direct.ms, 50);
  for (const measured of [direct, viaEngine, viaMcp, viaRest]) {
    const p50 = percentile(measured.ms, 50);
    const ratio = measured === direct ? '' : `   governed/direct p50 ${(p50 / base).toFixed(2)}x (target <= 1.5x)`;
    say(
      `${measured.label.padEnd(32)} p50 ${p50.toFixed(1).padStart(7)} ms   p99 ${percentile(measured.ms, 99).toFixed(1).padStart(7)} ms${ratio}`,
    );
  }
} finally {
  await mcp.close();
  duck.close();
  runtime.watcher.close();
  await http.app.close();
  await engine.close();
  await policy.close();
  rmSync(work, { recursive: true, force: true });
}
