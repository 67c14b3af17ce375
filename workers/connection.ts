import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { PgCdcError, TemporalConnectionError } from '../core/errors/index.js';
import { silentLogger, type Logger } from '../core/log/index.js';
import { SEARCH_ATTRIBUTES } from '../core/temporal/index.js';
import { startTemporalDevServer, type RunningDevServer } from '../stack/temporal.js';
import { installRuntime, type RuntimeOptions } from './runtime.js';

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
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...endpoint.connectionOptions, connectTimeout: 10_000 });
  } catch (error) {
    throw unreachable(endpoint, error);
  }
  await ensureSearchAttributes(connection, endpoint).catch(async (error: unknown) => {
    await connection.close();
    throw error;
  });
  return new Client({ connection, namespace: endpoint.namespace });
}

/** IndexedValueType of temporal.api.enums.v1, by the names SEARCH_ATTRIBUTES uses. */
const INDEXED_VALUE_TYPE = { Keyword: 2, Int: 3 } as const;
const registered = new Set<string>();

/**
 * Registers the search attributes pg-cdc sets on its workflows where the namespace lacks them (a cluster set up by
 * hand, or an embedded server started by an earlier version), once per process and namespace. Starting a workflow
 * with an unregistered attribute fails, so a cluster that refuses the registration (Temporal Cloud registers them
 * per namespace, through its own tools) stops here with the commands that do it.
 */
async function ensureSearchAttributes(
  connection: Pick<Connection, 'operatorService'>,
  endpoint: TemporalEndpoint,
): Promise<void> {
  const key = `${endpoint.address}/${endpoint.namespace}`;
  if (registered.has(key)) return;
  const { namespace } = endpoint;
  const wanted = Object.entries(SEARCH_ATTRIBUTES);
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const known = { ...existing.customAttributes, ...existing.systemAttributes };
    const missing = wanted.filter(([name]) => known[name] === undefined);
    if (missing.length > 0) {
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, INDEXED_VALUE_TYPE[type]])),
      });
    }
  } catch (error) {
    const commands = wanted
      .map(
        ([name, type]) =>
          `temporal operator search-attribute create --namespace ${namespace} --name ${name} --type ${type}`,
      )
      .join('; ');
    throw new PgCdcError('TEMPORAL_SEARCH_ATTRIBUTES', `cannot register pg-cdc's search attributes in ${namespace}`, {
      context: { address: endpoint.address, namespace },
      hint: `register them once with: ${commands} (on Temporal Cloud: tcld namespace search-attributes add)`,
      cause: error,
    });
  }
  registered.add(key);
}

/**
 * A client over a worker's connection: a process that runs workers and starts or queries workflows needs only one
 * connection (the SDK's native one serves both), not a second gRPC stack beside it.
 */
export function clientOver(connection: NativeConnection, endpoint: TemporalEndpoint): Client {
  return new Client({ connection, namespace: endpoint.namespace });
}

export async function connectWorker(
  endpoint: TemporalEndpoint,
  log: Logger = silentLogger,
  runtime: RuntimeOptions = {},
): Promise<NativeConnection> {
  installRuntime(log, runtime);
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect(endpoint.connectionOptions);
  } catch (error) {
    throw unreachable(endpoint, error);
  }
  await ensureSearchAttributes(connection, endpoint).catch(async (error: unknown) => {
    await connection.close();
    throw error;
  });
  return connection;
}
