import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import { errorText } from '../errors.js';
import type { Instrumentation } from '../instrument.js';
import type { ServeService } from '../service/index.js';
import { TOOLS, type ToolDefinition } from './tools.js';

/**
 * The MCP server: the eight tools over the serve service, for one principal. Results carry `structuredContent`
 * (checked against each tool's output schema) and a text rendering; every failure is an `isError` result with the
 * error's code, message and hint. Nothing is written to stdout but the protocol: logs go to stderr.
 */
export interface McpServerOptions {
  readonly service: ServeService;
  readonly instrumentation: Instrumentation;
  readonly principal: string;
  readonly version: string;
}

export const MCP_SERVER_NAME = 'pg-cdc';

function register<I extends z.ZodType, O extends z.ZodType>(
  server: McpServer,
  options: McpServerOptions,
  tool: ToolDefinition<I, O>,
): void {
  const handler = async (input: z.output<I>): Promise<CallToolResult> => {
    const requestId = randomUUID();
    try {
      const result = await options.instrumentation.track(
        {
          door: 'mcp',
          action: tool.name,
          principal: options.principal,
          requestId,
          tables: tool.tables(input),
          ...(tool.rows ? { rows: tool.rows } : {}),
          ...(tool.resultTables ? { resultTables: tool.resultTables } : {}),
        },
        () => tool.run(options.service, options.principal, input),
      );
      const text = tool.text ? tool.text(result) : JSON.stringify(result, null, 2);
      return {
        content: [{ type: 'text', text }],
        structuredContent: result as Record<string, unknown>,
      };
    } catch (error) {
      return { content: [{ type: 'text', text: errorText(error, requestId) }], isError: true };
    }
  };
  // The SDK's generic signature cannot follow a schema chosen from a table of tools; the schemas themselves are
  // what the SDK validates against, so the casts lose nothing at run time.
  server.registerTool(
    tool.name,
    {
      title: tool.title,
      description: tool.description,
      inputSchema: tool.input as never,
      outputSchema: tool.output as never,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    handler as never,
  );
}

export function createMcpServer(options: McpServerOptions): McpServer {
  const server = new McpServer(
    { name: MCP_SERVER_NAME, version: options.version },
    {
      instructions:
        'Governed, read-only access to PostgreSQL tables replicated into Apache Iceberg. Start with list_tables; ' +
        'check get_freshness before relying on recent data. Tables you are not granted do not exist for you.',
    },
  );
  for (const tool of TOOLS) register(server, options, tool as unknown as ToolDefinition<z.ZodType, z.ZodType>);
  return server;
}

/** Serves MCP on stdin/stdout until the client closes the stream; resolves then. */
export async function serveStdio(options: McpServerOptions): Promise<void> {
  const server = createMcpServer(options);
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
  });
  await server.connect(transport);
  options.instrumentation.log.info({ principal: options.principal }, 'MCP server on stdio');
  await closed;
  await server.close();
}
