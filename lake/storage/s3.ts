import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { PgCdcError } from '../../core/errors/index.js';
import {
  ConflictBreaker,
  DEFAULT_CONFLICT_BREAKER,
  type WriterStoppedError,
  type ConflictBreakerOptions,
} from './breaker.js';
import { RequestCounter, type DuckDBStoreSetup, type ObjectStore, type RequestCounts } from './index.js';
import { joinKey, utf8, validateKey, validatePrefix } from './keys.js';
import { countS3Errors } from './s3-errors.js';
import { StagingArea } from './staging.js';

export interface S3StoreOptions {
  readonly bucket: string;
  /** Key prefix of the warehouse inside the bucket ('' = the whole bucket). */
  readonly prefix: string;
  readonly region?: string;
  /** An S3-compatible endpoint (MinIO, R2, moto): `http(s)://host[:port]`. */
  readonly endpoint?: string;
  readonly forcePathStyle: boolean;
  /** Attempts per request, the first included (the SDK's standard retry mode). */
  readonly maxAttempts: number;
  readonly breaker?: ConflictBreakerOptions;
  /** Where files are staged before their upload (a directory per process is made under it). */
  readonly stagingRoot: string;
  /** Told once when the conflict breaker trips. */
  readonly onWriterStopped?: (error: WriterStoppedError) => void;
}

/** Files from this size on are uploaded in parts, several at a time (and the SDK retries a part, not the file). */
const MULTIPART_PART_BYTES = 8 * 1024 * 1024;
const MULTIPART_QUEUE = 4;
/** S3 answers 409 to a conditional PUT while another one on the same key is in flight: ask again, a few times. */
const IN_FLIGHT_RETRIES = 5;

/** A request that failed after the SDK's own retries (or with a status no retry can change). */
export class StorageRequestError extends PgCdcError {
  constructor(operation: string, bucket: string, key: string, cause: unknown) {
    const status = statusOf(cause);
    super('STORAGE_REQUEST_FAILED', `S3 ${operation} of s3://${bucket}/${key} failed: ${describe(cause)}`, {
      hint:
        status === 403
          ? 'the credentials (the default AWS provider chain) may not write this bucket and prefix'
          : 'check storage.bucket, storage.region and storage.endpoint, and that the store is reachable',
      context: { bucket, key, operation, ...(status === undefined ? {} : { status }) },
      cause,
    });
  }
}

function statusOf(error: unknown): number | undefined {
  if (error instanceof S3ServiceException) return error.$metadata.httpStatusCode;
  const metadata = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata;
  return metadata?.httpStatusCode;
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

const notFound = (error: unknown): boolean =>
  statusOf(error) === 404 || (error instanceof Error && (error.name === 'NoSuchKey' || error.name === 'NotFound'));

const quoteSql = (text: string): string => `'${text.replace(/'/g, "''")}'`;

/**
 * The warehouse in an S3 bucket (or an S3-compatible store). Objects are written whole and once: a data file by a
 * single PUT or a multipart upload, a metadata file by a conditional PUT. `putIfAbsent` is `If-None-Match: *`,
 * which S3 (and MinIO, R2, moto) decide atomically: exactly one of any number of racing writers gets 200, the rest
 * 412. Lost races feed the conflict breaker. Credentials come from the default AWS provider chain (environment,
 * profile, SSO, container or instance role); the SDK retries throttling and 5xx answers in standard mode.
 */
export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3' as const;
  readonly bucket: string;
  readonly prefix: string;
  readonly readRoot: string;
  readonly client: S3Client;
  readonly breaker: ConflictBreaker;
  private readonly requests = new RequestCounter();
  private readonly staging: StagingArea;

  constructor(private readonly options: S3StoreOptions) {
    this.bucket = options.bucket;
    this.prefix = joinKey(options.prefix);
    this.readRoot = `s3://${this.bucket}/${this.prefix === '' ? '' : `${this.prefix}/`}`;
    this.client = new S3Client({
      region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      forcePathStyle: options.forcePathStyle,
      // Standard, not adaptive: adaptive mode's client-side rate limiter, once one answer is a throttle, makes
      // every later request of the process wait for a token refilled at the rate it measured (0.5/s at worst),
      // so one sporadic 503 SlowDown slowed each later epoch commit (~35 requests) to tens of seconds. Standard
      // mode backs off per request (jittered, 500 ms base for throttles, 100 ms for 5xx) and stops retrying when
      // its retry quota runs dry, which is the backing off a real throttle needs (docs/storage.md).
      retryMode: 'standard',
      maxAttempts: options.maxAttempts,
    });
    countS3Errors(this.client);
    this.breaker = new ConflictBreaker(
      this.readRoot,
      options.breaker ?? DEFAULT_CONFLICT_BREAKER,
      options.onWriterStopped,
    );
    this.staging = new StagingArea(options.stagingRoot);
  }

  /** s3://bucket/prefix/key: what Iceberg metadata and every reader (Spark, Athena, PyIceberg) expect. */
  uri(key: string): string {
    return `${this.readRoot}${validateKey(key)}`;
  }

  keyOf(uri: string): string | undefined {
    if (!uri.startsWith(this.readRoot)) return undefined;
    return validateKey(uri.slice(this.readRoot.length));
  }

  localPath(): undefined {
    return undefined;
  }

  readPath(key: string): string {
    return this.uri(key);
  }

  /**
   * httpfs and a secret scoped to the lake's prefix, with the credentials the provider chain gives now (a DuckDB
   * lives for one query, or for one worker's epochs: long-lived ones call this again to renew them).
   */
  async duckdbSetup(): Promise<DuckDBStoreSetup> {
    const credentials = await this.client.config.credentials();
    const region = await this.client.config.region();
    const options = [
      'TYPE s3',
      `KEY_ID ${quoteSql(credentials.accessKeyId)}`,
      `SECRET ${quoteSql(credentials.secretAccessKey)}`,
      ...(credentials.sessionToken ? [`SESSION_TOKEN ${quoteSql(credentials.sessionToken)}`] : []),
      `REGION ${quoteSql(region)}`,
      `URL_STYLE ${quoteSql(this.options.forcePathStyle ? 'path' : 'vhost')}`,
      `SCOPE ${quoteSql(this.readRoot)}`,
    ];
    if (this.options.endpoint !== undefined) {
      const url = new URL(this.options.endpoint);
      options.push(`ENDPOINT ${quoteSql(url.host)}`, `USE_SSL ${url.protocol === 'https:'}`);
    }
    return { extensions: ['httpfs'], statements: [`CREATE OR REPLACE SECRET pgcdc_lake (${options.join(', ')})`] };
  }

  stagingPath(key: string): Promise<string> {
    return Promise.resolve(this.staging.pathFor(validateKey(key)));
  }

  /** Uploads the staged file (in parts from MULTIPART_PART_BYTES on) and removes it, uploaded or not. */
  async publishStaged(key: string, path: string): Promise<void> {
    try {
      this.breaker.check(key);
      const size = (await stat(path)).size;
      if (size < MULTIPART_PART_BYTES) {
        // Bytes, not a stream: the SDK can send them again on a retry.
        await this.send('put', key, new PutObjectCommand({ ...this.target(key), Body: await readFile(path) }));
        return;
      }
      const upload = new Upload({
        client: this.client,
        params: { ...this.target(key), Body: createReadStream(path) },
        partSize: MULTIPART_PART_BYTES,
        queueSize: MULTIPART_QUEUE,
        leavePartsOnError: false,
      });
      try {
        await upload.done();
      } catch (error) {
        throw new StorageRequestError('multipart upload', this.bucket, this.fullKey(key), error);
      } finally {
        // create + parts + complete: what S3 bills.
        this.requests.add('multipart', 2 + Math.ceil(size / MULTIPART_PART_BYTES));
      }
    } finally {
      this.staging.remove(path);
    }
  }

  async put(key: string, body: Uint8Array | string): Promise<void> {
    this.breaker.check(key);
    await this.send('put', key, new PutObjectCommand({ ...this.target(key), Body: utf8(body) }));
  }

  async putIfAbsent(key: string, body: Uint8Array | string): Promise<boolean> {
    this.breaker.check(key);
    const bytes = utf8(body);
    for (let attempt = 1; ; attempt++) {
      try {
        this.requests.add('put');
        await this.client.send(new PutObjectCommand({ ...this.target(key), Body: bytes, IfNoneMatch: '*' }));
        return true;
      } catch (error) {
        const status = statusOf(error);
        if (status === 412) {
          // An earlier attempt of ours that succeeded but whose answer was lost reads back as our own bytes.
          if (await this.holds(key, bytes)) return true;
          this.breaker.conflict(key);
          return false;
        }
        if (status === 409 && attempt < IN_FLIGHT_RETRIES) {
          await new Promise((done) => setTimeout(done, 50 * 2 ** attempt));
          continue;
        }
        throw new StorageRequestError('conditional put', this.bucket, this.fullKey(key), error);
      }
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      this.requests.add('get');
      const answer = await this.client.send(new GetObjectCommand(this.target(key)));
      return answer.Body ? await answer.Body.transformToByteArray() : new Uint8Array();
    } catch (error) {
      if (notFound(error)) return undefined;
      throw new StorageRequestError('get', this.bucket, this.fullKey(key), error);
    }
  }

  async list(prefix: string): Promise<string[]> {
    validatePrefix(prefix);
    const base = this.prefix === '' ? '' : `${this.prefix}/`;
    const keys: string[] = [];
    let token: string | undefined;
    do {
      this.requests.add('list');
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${base}${prefix}`, ContinuationToken: token }),
        );
      } catch (error) {
        throw new StorageRequestError('list', this.bucket, `${base}${prefix}`, error);
      }
      for (const object of page.Contents ?? []) {
        if (object.Key?.startsWith(base)) keys.push(object.Key.slice(base.length));
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    this.breaker.check(key);
    await this.send('delete', key, new DeleteObjectCommand(this.target(key)));
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== undefined;
  }

  async modifiedAt(key: string): Promise<number | undefined> {
    return (await this.head(key))?.getTime();
  }

  requestCounts(): RequestCounts {
    return this.requests.snapshot();
  }

  private async holds(key: string, bytes: Uint8Array): Promise<boolean> {
    const current = await this.get(key);
    return current !== undefined && Buffer.from(current).equals(bytes);
  }

  private async head(key: string): Promise<Date | undefined> {
    try {
      this.requests.add('head');
      const answer = await this.client.send(new HeadObjectCommand(this.target(key)));
      return answer.LastModified ?? new Date(0);
    } catch (error) {
      if (notFound(error)) return undefined;
      throw new StorageRequestError('head', this.bucket, this.fullKey(key), error);
    }
  }

  private async send(
    kind: 'put' | 'delete',
    key: string,
    command: PutObjectCommand | DeleteObjectCommand,
  ): Promise<void> {
    try {
      this.requests.add(kind);
      if (command instanceof PutObjectCommand) await this.client.send(command);
      else await this.client.send(command);
    } catch (error) {
      throw new StorageRequestError(kind, this.bucket, this.fullKey(key), error);
    }
  }

  private fullKey(key: string): string {
    return this.prefix === '' ? validateKey(key) : `${this.prefix}/${validateKey(key)}`;
  }

  private target(key: string): { Bucket: string; Key: string } {
    return { Bucket: this.bucket, Key: this.fullKey(key) };
  }

  destroy(): void {
    this.client.destroy();
  }
}
