/**
 * Where the warehouse lives. Everything above this interface (versioned documents, the catalog, the Iceberg
 * writer) is the same on a local disk and on S3; the differences that matter are made explicit: `putIfAbsent` is
 * the one compare-and-swap primitive; DuckDB writes a file at `stagingPath` and `publishStaged` makes it the object
 * (in place on a filesystem, an upload on S3); DuckDB reads an object at `readPath` (a local path, or an s3:// URL
 * through httpfs), and `duckdbSetup` says what a DuckDB needs for that. Which store a process uses is decided by
 * `openLake`.
 */
export interface ObjectStore {
  readonly kind: 'filesystem' | 's3';
  /** Absolute location written into Iceberg metadata: file:///abs/path/key or s3://bucket/prefix/key. */
  uri(key: string): string;
  /** The key a location returned by `uri` refers to; undefined when the location is outside this store. */
  keyOf(uri: string): string | undefined;
  /** Filesystem only: where a local writer can write the object directly. */
  localPath(key: string): string | undefined;
  /** Where DuckDB reads the object: its local path, or its s3:// URL (read through httpfs). */
  readPath(key: string): string;
  /** The prefix of every `readPath` (ends in '/'): all a sandboxed DuckDB reading the lake may open. */
  readonly readRoot: string;
  /** What a DuckDB must run before it can read `readPath`s (nothing on a filesystem; httpfs and a scoped secret on S3). */
  duckdbSetup(): Promise<DuckDBStoreSetup>;
  /**
   * A local file (its directory created) for a writer to fill before `publishStaged(key, path)`. On a filesystem
   * it is the object's own path; on S3 a fresh file in the bounded staging directory.
   */
  stagingPath(key: string): Promise<string>;
  /** Makes the staged file the object `key` (written once), then removes the staging copy if it is one. */
  publishStaged(key: string, path: string): Promise<void>;
  /** Atomic replace: readers see the old or the new body, never a partial one. */
  put(key: string, body: Uint8Array | string): Promise<void>;
  /** Exclusive, atomic create: true = we created it, false = it already existed (and is left untouched). */
  putIfAbsent(key: string, body: Uint8Array | string): Promise<boolean>;
  get(key: string): Promise<Uint8Array | undefined>;
  /** Keys starting with `prefix` (a plain string prefix, as on S3), sorted by code unit. */
  list(prefix: string): Promise<string[]>;
  /** Removes the object; a missing object is not an error. */
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** When the object was last written (ms since the epoch); undefined when it does not exist. */
  modifiedAt(key: string): Promise<number | undefined>;
  /** Requests sent so far, by kind (S3 bills per request); a delta around a step is that step's cost. */
  requestCounts(): RequestCounts;
}

export type RequestKind = 'put' | 'get' | 'head' | 'list' | 'delete' | 'multipart';
export type RequestCounts = Readonly<Record<RequestKind, number>>;

export interface DuckDBStoreSetup {
  /** Extensions to LOAD (installed first when they are not). */
  readonly extensions: readonly string[];
  /** Statements to run once they are loaded (a secret scoped to the lake), before the configuration is locked. */
  readonly statements: readonly string[];
}

/** Counts requests by kind; what each store's requestCounts() reports. */
export class RequestCounter {
  private readonly counts: Record<RequestKind, number> = { put: 0, get: 0, head: 0, list: 0, delete: 0, multipart: 0 };

  add(kind: RequestKind, count = 1): void {
    this.counts[kind] += count;
  }

  snapshot(): RequestCounts {
    return { ...this.counts };
  }
}

/** What happened between two `requestCounts()`: only the kinds that moved. */
export function requestDelta(before: RequestCounts, after: RequestCounts): Partial<Record<RequestKind, number>> {
  const delta: Partial<Record<RequestKind, number>> = {};
  for (const kind of Object.keys(after) as RequestKind[]) {
    const moved = after[kind] - before[kind];
    if (moved !== 0) delta[kind] = moved;
  }
  return delta;
}

export * from './keys.js';
