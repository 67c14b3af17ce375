import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvironmentError } from '../core/errors/index.js';
import { silentLogger, type Logger } from '../core/log/index.js';
import { venvBin } from './paths.js';
import { freePort } from './ports.js';
import { ManagedProcess } from './process.js';

export interface RunningMoto {
  /** Endpoint for every AWS client (S3 with path-style addressing, Glue, Lake Formation, DynamoDB, STS). */
  readonly endpoint: string;
  readonly region: string;
  /** Credentials moto accepts; the SDK needs some. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  stop(): Promise<void>;
}

export function motoServerPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const path = env.PGCDC_MOTO_SERVER ?? venvBin('moto_server', env);
  return existsSync(path) ? path : undefined;
}

/** moto in server mode on a free loopback port: real HTTP AWS APIs, in memory, for integration tests. */
export async function startMoto(options: { log?: Logger } = {}): Promise<RunningMoto> {
  const log = options.log ?? silentLogger;
  const server = motoServerPath();
  if (!server) {
    throw new EnvironmentError('moto_server is not installed', {
      hint: 'run `npm run setup` (creates the Python virtualenv with moto[server]), or set PGCDC_MOTO_SERVER',
    });
  }
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'pg-cdc-moto-'));
  const process_ = ManagedProcess.start('moto_server', server, ['-H', '127.0.0.1', '-p', String(port)], {
    logFile: join(dir, 'moto.log'),
  });
  await process_.waitUntilReady(
    async () => {
      try {
        return (await fetch(`${endpoint}/moto-api/`)).status < 500;
      } catch {
        return false;
      }
    },
    60_000,
    'moto_server did not start',
  );
  log.info({ endpoint }, 'moto ready');
  return {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    async stop() {
      await process_.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
