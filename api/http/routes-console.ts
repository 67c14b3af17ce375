import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { stateIdentifierOf } from '../../lake/contract/index.js';
import { ChangeFeed } from '../events.js';
import { auditSummaryOutput, catalogOutput, statusOutput, type AuditEntry } from '../schemas/console.js';
import { addRoute, track, type ApiContext } from './routes.js';
import { openSse, type SseStream } from './sse.js';
import { parseRequest } from './validation.js';

/**
 * The console: status, catalog and the audit summary, and their live versions as Server-Sent Events. An audit
 * entry is shown to a principal only when every table it names is one the principal may see.
 */
const auditQuery = z.strictObject({ recent: z.coerce.number().int().min(0).max(1000).optional() });
const statusStreamQuery = z.strictObject({ interval_seconds: z.coerce.number().min(1).max(3600).optional() });
const eventsQuery = z.strictObject({
  since_version: z.coerce.number().int().min(0).optional().describe('resume after this manifest version'),
});

const canSee = (visible: ReadonlySet<string>) => (entry: AuditEntry) =>
  entry.tables.every((table) => visible.has(stateIdentifierOf(table)));

export function registerConsoleRoutes(app: FastifyInstance, context: ApiContext): void {
  const { service, instrumentation } = context;
  const route = addRoute.bind(null, app, context);

  route(
    {
      method: 'GET',
      url: '/v1/status',
      tag: 'console',
      summary: 'Lake, freshness and server status',
      response: statusOutput,
    },
    (request) => track(context, request, [], (principal) => service.status(principal)),
  );

  route(
    {
      method: 'GET',
      url: '/v1/catalog',
      tag: 'console',
      summary: 'Catalog tables and their schemas',
      response: catalogOutput,
    },
    (request) => track(context, request, [], (principal) => service.catalog(principal)),
  );

  route(
    {
      method: 'GET',
      url: '/v1/audit/summary',
      tag: 'console',
      summary: 'Who read what since the server started',
      query: auditQuery,
      response: auditSummaryOutput,
    },
    (request) => {
      const { recent } = parseRequest(auditQuery, request.query, 'query');
      return track(context, request, [], async (principal) =>
        instrumentation.audit.summary(canSee(await service.visibleTables(principal)), recent ?? 20),
      );
    },
  );

  /** Opens an SSE stream as an audited request, counted in the open-streams gauge while it lasts. */
  const stream = async (
    request: FastifyRequest,
    reply: FastifyReply,
    name: string,
  ): Promise<{ stream: SseStream; principal: string }> => {
    const principal = await track(context, request, [], (p) => Promise.resolve(p));
    const opened = openSse(request, reply);
    instrumentation.metrics.sseClients.inc({ stream: name });
    opened.onClose(() => instrumentation.metrics.sseClients.dec({ stream: name }));
    return { stream: opened, principal };
  };

  route(
    {
      method: 'GET',
      url: '/v1/stream/status',
      tag: 'streams',
      summary: 'Status events: at once, on every new manifest version and every interval',
      query: statusStreamQuery,
      produces: 'sse',
      description: '`event: status`, data as GET /v1/status',
    },
    async (request, reply) => {
      const { interval_seconds: interval } = parseRequest(statusStreamQuery, request.query, 'query');
      const { stream: sse, principal } = await stream(request, reply, 'status');
      const push = (): void => {
        service.status(principal).then(
          (status) => sse.send('status', status),
          (error: unknown) => instrumentation.log.warn({ err: error }, 'status stream update failed'),
        );
      };
      push();
      const timer = setInterval(push, (interval ?? 10) * 1000);
      sse.onClose(() => clearInterval(timer));
      sse.onClose(context.watcher.subscribe(push));
    },
  );

  route(
    {
      method: 'GET',
      url: '/v1/stream/events',
      tag: 'streams',
      summary: 'Changes as they commit, for the tables you may read',
      query: eventsQuery,
      produces: 'sse',
      description:
        '`event: change` per changelog row ({table, manifest_version, row}); `event: commit` with `id: <manifest ' +
        'version>` after each version; `event: gap` when a version holds more rows than one read returns. ' +
        'Reconnect with Last-Event-ID (or since_version) to resume.',
    },
    async (request, reply) => {
      const { since_version: since } = parseRequest(eventsQuery, request.query, 'query');
      const header = request.headers['last-event-id'];
      const lastEventId = typeof header === 'string' && /^\d+$/.test(header) ? Number(header) : undefined;
      const { stream: sse, principal } = await stream(request, reply, 'events');
      const feed = new ChangeFeed(
        service,
        context.watcher,
        principal,
        {
          change: (event) => sse.send('change', event),
          commit: (event, id) => sse.send('commit', event, id),
          gap: (event) => sse.send('gap', event),
        },
        instrumentation.log,
      );
      sse.onClose(() => feed.stop());
      const after = await feed.start(lastEventId ?? since);
      sse.send('ready', { manifest_version: after ?? null });
    },
  );

  route(
    {
      method: 'GET',
      url: '/v1/stream/audit',
      tag: 'streams',
      summary: 'Audit entries as requests are served',
      produces: 'sse',
      description: '`event: audit`, data as an entry of GET /v1/audit/summary `recent`',
    },
    async (request, reply) => {
      const { stream: sse, principal } = await stream(request, reply, 'audit');
      let visible = await service.visibleTables(principal);
      const refresh = (): void => {
        service.visibleTables(principal).then(
          (tables) => (visible = tables),
          (error: unknown) => instrumentation.log.warn({ err: error }, 'audit stream visibility refresh failed'),
        );
      };
      sse.onClose(context.watcher.subscribe(refresh));
      sse.onClose(
        instrumentation.audit.subscribe((entry) => {
          if (canSee(visible)(entry)) sse.send('audit', entry);
        }),
      );
    },
  );
}
