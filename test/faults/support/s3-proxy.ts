import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FaultyS3Options {
  /** The fraction of requests answered 503 SlowDown or 500 InternalError (seeded), never forwarded. */
  readonly errorRate: number;
  /** The fraction of the other requests held back before they are forwarded. */
  readonly delayRate: number;
  /** How long a held-back request waits at most, in milliseconds (uniformly from 0). */
  readonly maxDelayMs: number;
}

export interface FaultyS3 {
  readonly endpoint: string;
  /** Requests seen, answered with an error, and delayed so far. */
  counts(): { requests: number; errors: number; delayed: number };
  /** From now on every request is forwarded untouched (or, with `on`, faulty again). */
  setFaulty(on: boolean): void;
  close(): Promise<void>;
}

const ERRORS = [
  { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' },
  { status: 500, code: 'InternalError', message: 'We encountered an internal error. Please try again.' },
] as const;

/**
 * An HTTP proxy in front of an S3 endpoint (moto) that fails and slows requests the way S3 does under stress: a
 * seeded fraction is answered 503 SlowDown or 500 InternalError with S3's XML error body, and a fraction of the
 * rest waits before it is forwarded. The body of a failed request is read to its end first, as S3 does, so the
 * client sees an answer and not a reset connection.
 */
export async function startFaultyS3(target: string, random: () => number, options: FaultyS3Options): Promise<FaultyS3> {
  const upstream = new URL(target);
  let requests = 0;
  let errors = 0;
  let delayed = 0;
  let faulty = true;
  const server: Server = createServer((req, res) => {
    requests += 1;
    const roll = random();
    if (faulty && roll < options.errorRate) {
      errors += 1;
      const error = ERRORS[Math.floor(random() * ERRORS.length)]!;
      req.resume();
      req.once('end', () => {
        res.writeHead(error.status, { 'content-type': 'application/xml' });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${error.code}</Code><Message>${error.message}</Message></Error>`,
        );
      });
      return;
    }
    const wait = faulty && roll < options.errorRate + options.delayRate ? random() * options.maxDelayMs : 0;
    if (wait > 0) delayed += 1;
    req.pause();
    setTimeout(() => {
      const forward = request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.once('error', () => res.destroy());
      req.pipe(forward);
      req.resume();
    }, wait);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    counts: () => ({ requests, errors, delayed }),
    setFaulty: (on) => void (faulty = on),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
