import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * A Server-Sent Events response: the reply is taken over from Fastify (it never ends on its own), a comment line
 * every 15 s keeps proxies from closing an idle stream, and `onClose` runs once when the client goes away.
 */
export interface SseStream {
  send(event: string, data: unknown, id?: string): void;
  readonly closed: boolean;
  onClose(cleanup: () => void): void;
  end(): void;
}

const KEEPALIVE_MS = 15_000;

export function openSse(request: FastifyRequest, reply: FastifyReply): SseStream {
  void reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-request-id': request.id,
  });
  // Tells EventSource how long to wait before reconnecting; it then sends Last-Event-ID.
  raw.write('retry: 2000\n\n');
  const cleanups: (() => void)[] = [];
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    clearInterval(keepalive);
    for (const cleanup of cleanups.splice(0)) cleanup();
  };
  const keepalive = setInterval(() => raw.write(': keepalive\n\n'), KEEPALIVE_MS);
  keepalive.unref();
  request.raw.once('close', close);
  raw.once('close', close);
  return {
    send(event, data, id) {
      if (closed) return;
      const lines = [`event: ${event}`, ...(id === undefined ? [] : [`id: ${id}`])];
      for (const line of JSON.stringify(data).split('\n')) lines.push(`data: ${line}`);
      raw.write(`${lines.join('\n')}\n\n`);
    },
    get closed() {
      return closed;
    },
    onClose(cleanup) {
      if (closed) cleanup();
      else cleanups.push(cleanup);
    },
    end() {
      close();
      raw.end();
    },
  };
}
