/**
 * Where the warehouse lives. Everything above this interface (versioned documents, the catalog, the Iceberg
 * writer) is the same on a local disk and on S3; the two differences that matter are made explicit:
 * `putIfAbsent` is the one compare-and-swap primitive, and `localPath` tells a local writer (DuckDB) that it may
 * write a file in place instead of handing bytes over. Which store a process uses is decided by `openLake`.
 */
export interface ObjectStore {
  readonly kind: 'filesystem' | 's3';
  /** Absolute location written into Iceberg metadata: file:///abs/path/key or s3://bucket/prefix/key. */
  uri(key: string): string;
  /** The key a location returned by `uri` refers to; undefined when the location is outside this store. */
  keyOf(uri: string): string | undefined;
  /** Filesystem only: where a local writer can write the object directly. */
  localPath(key: string): string | undefined;
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
}

export * from './keys.js';
