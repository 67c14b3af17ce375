/**
 * `memory.limit_mb`, the one knob that sizes a pg-cdc process, and what each consumer of memory gets from it. The
 * shares were measured on `pg-cdc start` (bench:stream, bench:bigtxn; docs/development.md#memory): an idle stream
 * worker is about 250 MiB (Node and its modules, the Temporal SDK's Rust core and its workflow thread, each with a
 * V8 heap), which nothing here can shrink; the rest goes to the DuckDB that commits epochs (reading a sealed epoch
 * and writing its Parquet files), compaction's DuckDB beside it, and the epoch each table gathers before it is sealed
 * (`flush.max_bytes`, which that DuckDB reads). The locators' SQLite page caches (up to 64 MiB each, 256 MiB while
 * one is rebuilt) and the spool's buffers (256 KiB per transaction in flight) are fixed.
 */
export const MIB = 1024 * 1024;
export const DEFAULT_MEMORY_LIMIT_MB = 512;
/** Below this a stream worker does not fit: its idle footprint alone is about 250 MiB. */
export const MIN_MEMORY_LIMIT_MB = 384;

/** A DuckDB's share: its `memory_limit` (what its buffer manager may hold) and threads. */
export interface DuckDBShare {
  /** DuckDB size text, e.g. `128MB` (DuckDB's MB are MiB). */
  readonly memoryLimit: string;
  readonly memoryBytes: number;
  readonly threads: number;
}

export interface MemoryBudget {
  readonly limitBytes: number;
  /** Epoch commits of `pg-cdc start` (and of `pg-cdc worker`). */
  readonly epochs: DuckDBShare;
  /** Compaction's rewrites and commits: one thread, so a rewrite never takes the epochs' cores. */
  readonly compaction: DuckDBShare;
  /**
   * The snapshot's Parquet writers (`init`, and tables that join while streaming): each of `init.parallel_workers`
   * holds a row group while it writes, so they get a floor per worker whatever the limit.
   */
  readonly snapshot: DuckDBShare;
}

/** Whole MiB, at least `min`. */
const share = (limitMb: number, fraction: number, min: number): number => Math.max(min, Math.floor(limitMb * fraction));

/**
 * `flush.max_bytes`' default: an eighth of the limit (64 MiB at 512). The epoch's CSV is what its commit reads into
 * DuckDB, so a larger epoch only makes DuckDB spill sooner.
 */
export const flushMaxBytesFor = (limitMb: number): number => share(limitMb, 1 / 8, 16) * MIB;

const duck = (mb: number, threads: number): DuckDBShare => ({
  memoryLimit: `${mb}MB`,
  memoryBytes: mb * MIB,
  threads,
});

/**
 * What `memory.limit_mb` gives each DuckDB, on a machine of `cores` cores. At the default 512: epochs 128 MiB and one
 * thread per core up to 4, compaction 128 MiB (64 failed a 600 k-row rewrite: not everything it holds spills), the
 * snapshot's writers half the limit and at least 96 MiB per parallel worker (384 MiB for 4).
 */
export function memoryBudget(limitMb: number, parallelWorkers: number, cores: number): MemoryBudget {
  return {
    limitBytes: limitMb * MIB,
    epochs: duck(share(limitMb, 1 / 4, 64), Math.min(cores, 4)),
    compaction: duck(share(limitMb, 1 / 4, 96), 1),
    snapshot: duck(Math.max(share(limitMb, 1 / 2, 128), 96 * parallelWorkers), 1),
  };
}
