/**
 * `pg-cdc serve`: the lake to agents and people through one governed query engine. `--mcp` speaks MCP on
 * stdin/stdout as serve.mcp.principal; `--http` serves REST, SSE and MCP (Streamable HTTP at /mcp) with bearer
 * tokens mapped to principals. Both may run in one process. Logs go to stderr only: stdout is the MCP channel.
 */
import type { Command } from 'commander';
import { PgCdcError } from '../../core/errors/index.js';
import { createQueryEngine } from '../../engine/index.js';
import { openAccessPolicy } from '../../governance/index.js';
import { createServeRuntime, listenHttp, serveMcpStdio, type RunningHttp } from '../../api/serve.js';
import { loadContext, type GlobalOptions } from '../context.js';
import { packageVersion } from './version.js';

interface ServeOptions {
  mcp?: boolean;
  http?: boolean;
  host?: string;
  port?: string;
  principal?: string;
}

const ENDPOINTS = `
HTTP endpoints (--http; bearer token required on all but /healthz, /metrics, /v1/openapi.json):
  data plane   GET /v1/tables · GET /v1/tables/{name} · GET /v1/tables/{name}/changes · GET /v1/tables/{name}/snapshot
               POST /v1/query · GET /v1/freshness · GET /v1/manifest · GET /v1/diff?from=&to=
  console      GET /v1/status · GET /v1/catalog · GET /v1/audit/summary
  streams      GET /v1/stream/status · /v1/stream/events · /v1/stream/audit (Server-Sent Events)
  MCP          POST /mcp (Streamable HTTP, stateless)
  always on    GET /healthz · GET /metrics · GET /v1/openapi.json
MCP tools: list_tables, describe_table, query, get_changes, get_manifest, get_freshness, get_snapshot, get_diff`;

function parsePort(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw new PgCdcError('CONFIG_INVALID', `--port ${JSON.stringify(text)} is not a port`, {
      hint: 'a number from 0 to 65535 (0 picks a free port)',
    });
  }
  return Number(text);
}

function checkPrincipal(principal: string, known: readonly string[], where: string): void {
  if (known.includes(principal)) return;
  throw new PgCdcError(
    'PRINCIPAL_UNKNOWN',
    `${where} names principal ${JSON.stringify(principal)}, which has no role`,
    {
      hint: known.length
        ? `principals are the roles of governance.roles: ${known.join(', ')}`
        : 'define governance.roles in pg-cdc.yml (each role is a principal with a tag grant)',
    },
  );
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve the lake: MCP on stdio (--mcp), REST + SSE + MCP over HTTP (--http), or both')
    .option('--mcp', 'MCP server on stdin/stdout, as serve.mcp.principal (or --principal)')
    .option('--http', 'REST API, SSE streams and MCP at /mcp on serve.http.host:port')
    .option('--host <host>', 'listen on this address instead of serve.http.host')
    .option('--port <port>', 'listen on this port instead of serve.http.port (0 picks a free one)')
    .option('--principal <role>', 'the principal of the stdio MCP server (default serve.mcp.principal)')
    .addHelpText('after', ENDPOINTS)
    .action(async (options: ServeOptions) => {
      if (!options.mcp && !options.http) {
        throw new PgCdcError('CONFIG_INVALID', 'pg-cdc serve needs --mcp, --http or both', {
          hint: 'pg-cdc serve --mcp for MCP clients on stdio; pg-cdc serve --http for REST, SSE and MCP over HTTP',
        });
      }
      const port = parsePort(options.port);
      const context = await loadContext(program.opts<GlobalOptions>());
      const { config, log } = context;
      const stdioPrincipal = options.principal ?? config.serve.mcp.principal;
      if (options.mcp && stdioPrincipal === undefined) {
        throw new PgCdcError('CONFIG_INVALID', 'the stdio MCP server needs a principal', {
          hint: 'set serve.mcp.principal in pg-cdc.yml to a role of governance.roles, or pass --principal <role>',
        });
      }
      const policy = openAccessPolicy(config);
      const engine = createQueryEngine({ config, policy, log });
      const runtime = createServeRuntime({ config, log, version: packageVersion(), engine, policy });
      let http: RunningHttp | undefined;
      const shutdown = async (): Promise<void> => {
        runtime.watcher.close();
        await http?.app.close();
        await engine.close();
        await policy.close();
      };
      try {
        const known = policy.principals();
        if (options.mcp)
          checkPrincipal(stdioPrincipal!, known, options.principal ? '--principal' : 'serve.mcp.principal');
        if (options.http) {
          for (const token of config.serve.http.tokens) checkPrincipal(token.principal, known, 'serve.http.tokens');
          http = await listenHttp(runtime, {
            ...(options.host ? { host: options.host } : {}),
            ...(port === undefined ? {} : { port }),
          });
          // One line a script can wait for, on stderr (stdout may be the MCP channel).
          process.stderr.write(`pg-cdc serve: listening on ${http.url}\n`);
        }
        const stopped = new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve()).once('SIGTERM', () => resolve());
        });
        // stdio alone: the session ends when the client closes stdin. With --http, the server runs until a signal.
        await (options.mcp && !options.http
          ? Promise.race([serveMcpStdio(runtime, stdioPrincipal!), stopped])
          : Promise.all([options.mcp ? serveMcpStdio(runtime, stdioPrincipal!) : undefined, stopped]));
      } finally {
        await shutdown();
      }
    });
}
