import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { TemporalConnectionError } from '../core/errors/index.js';
import { silentLogger, type Logger } from '../core/log/index.js';
import { startTemporalDevServer, type RunningDevServer } from '../stack/temporal.js';
import { installRuntime } from './runtime.js';

/** The part of pg-cdc.yml's `temporal:` section a connection needs. */
export interface TemporalSettings {
  readonly address: string;
  readonly namespace: string;
  readonly task_queue: string;
  readonly tls?: {
    readonly server_name?: string;
    readonly ca_file?: string;
    readonly cert_file?: string;
    readonly key_file?: string;
  };
  readonly api_key?: string;
  readonly embedded: { readonly ui: boolean; readonly port: number; readonly ui_port: number };
}

export interface TemporalEndpoint {
  readonly address: string;
  readonly namespace: string;
  readonly taskQueue: string;
  readonly uiUrl: string | undefined;
  readonly embedded: RunningDevServer | undefined;
  readonly connectionOptions: { readonly address: string; readonly tls?: TLSConfig; readonly apiKey?: string };
}

export const isEmbedded = (settings: TemporalSettings): boolean => !settings.address || settings.address === 'embedded';

function tlsOptions(tls: TemporalSettings['tls']): TLSConfig | undefined {
  if (!tls) return undefined;
  return {
    serverNameOverride: tls.server_name,
    serverRootCACertificate: tls.ca_file ? readFileSync(tls.ca_file) : undefined,
    clientCertPair:
      tls.cert_file && tls.key_file ? { crt: readFileSync(tls.cert_file), key: readFileSync(tls.key_file) } : undefined,
  };
}

/**
 * Where Temporal is: an existing cluster named in the config, or the embedded dev server (started on first use,
 * reused by later commands through its record in the state directory).
 */
export async function resolveTemporal(
  settings: TemporalSettings,
  options: { stateDir: string; keepRunning?: boolean; log?: Logger },
): Promise<TemporalEndpoint> {
  if (!isEmbedded(settings)) {
    return {
      address: settings.address,
      namespace: settings.namespace,
      taskQueue: settings.task_queue,
      uiUrl: undefined,
      embedded: undefined,
      connectionOptions: { address: settings.address, tls: tlsOptions(settings.tls), apiKey: settings.api_key },
    };
  }
  const server = await startTemporalDevServer({
    stateDir: join(options.stateDir, 'temporal'),
    namespace: settings.namespace,
    port: settings.embedded.port || undefined,
    uiPort: settings.embedded.ui_port || undefined,
    ui: settings.embedded.ui,
    keepRunning: options.keepRunning ?? true,
    log: options.log ?? silentLogger,
  });
  return {
    address: server.address,
    namespace: server.namespace,
    taskQueue: settings.task_queue,
    uiUrl: server.uiUrl,
    embedded: server,
    connectionOptions: { address: server.address },
  };
}

const unreachable = (endpoint: TemporalEndpoint, cause: unknown): TemporalConnectionError =>
  new TemporalConnectionError(`cannot reach Temporal at ${endpoint.address}`, {
    context: { address: endpoint.address, namespace: endpoint.namespace },
    hint: endpoint.embedded
      ? 'the embedded dev server stopped; run the command again to restart it'
      : 'check temporal.address, temporal.tls and temporal.api_key in pg-cdc.yml, and that the cluster is up',
    cause,
  });

export async function connectClient(endpoint: TemporalEndpoint): Promise<Client> {
  try {
    const connection = await Connection.connect({ ...endpoint.connectionOptions, connectTimeout: 10_000 });
    return new Client({ connection, namespace: endpoint.namespace });
  } catch (error) {
    throw unreachable(endpoint, error);
  }
}

/**
 * A client over a worker's connection: a process that runs workers and starts or queries workflows needs only one
 * connection (the SDK's native one serves both), not a second gRPC stack beside it.
 */
export function clientOver(connection: NativeConnection, endpoint: TemporalEndpoint): Client {
  return new Client({ connection, namespace: endpoint.namespace });
}

export async function connectWorker(endpoint: TemporalEndpoint, log: Logger = silentLogger): Promise<NativeConnection> {
  installRuntime(log);
  try {
    return await NativeConnection.connect(endpoint.connectionOptions);
  } catch (error) {
    throw unreachable(endpoint, error);
  }
}
