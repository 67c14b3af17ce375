import { createServer, type AddressInfo, type Server } from 'node:net';

/**
 * Ask the kernel for a free TCP port on loopback, other than those in `avoid` (ports picked for the same process
 * but not bound yet: the kernel may hand one out again). Another process may still take it; callers retry on
 * EADDRINUSE.
 */
export async function freePort(avoid: readonly number[] = [], host = '127.0.0.1'): Promise<number> {
  // Every refused port stays held until one is found, so the kernel cannot offer it twice.
  const held: Server[] = [];
  try {
    for (;;) {
      const server = createServer();
      server.unref();
      held.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, resolve);
      });
      const { port } = server.address() as AddressInfo;
      if (!avoid.includes(port)) return port;
    }
  } finally {
    await Promise.all(held.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

/** True when something accepts TCP connections at host:port. */
export async function isListening(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (result: boolean): void => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
