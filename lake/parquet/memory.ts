import type { DuckDBInstance } from '@duckdb/node-api';

/**
 * The process's open DuckDBs by name (`epochs`, `compaction`, `snapshot`, ...; openDuckDB files every instance it
 * opens with a name), so that what each holds can be reported beside the process's other memory.
 */
const named = new Map<DuckDBInstance, string>();

export function trackDuckDB(instance: DuckDBInstance, name: string): () => void {
  named.set(instance, name);
  return () => void named.delete(instance);
}

export interface DuckDBMemory {
  /** What its buffer manager holds (`duckdb_memory()`): table data, hash tables, CSV and Parquet buffers. */
  readonly usedBytes: number;
  /** Spilled to its temp directory. */
  readonly spilledBytes: number;
  readonly limit: string;
}

/**
 * What each named DuckDB holds now, by name (instances of one name summed). A query on a connection of its own, so
 * it answers while the instance runs other statements; an instance that fails to answer (closing) is left out.
 */
export async function duckdbMemory(): Promise<Record<string, DuckDBMemory>> {
  const report: Record<string, DuckDBMemory> = {};
  for (const [instance, name] of [...named]) {
    try {
      const connection = await instance.connect();
      try {
        const reader = await connection.runAndReadAll(
          'SELECT CAST(sum(memory_usage_bytes) AS DOUBLE), CAST(sum(temporary_storage_bytes) AS DOUBLE), ' +
            "current_setting('memory_limit') FROM duckdb_memory()",
        );
        const [used, spilled, limit] = reader.getRowsJS()[0]!;
        const before = report[name];
        report[name] = {
          usedBytes: Number(used ?? 0) + (before?.usedBytes ?? 0),
          spilledBytes: Number(spilled ?? 0) + (before?.spilledBytes ?? 0),
          limit: typeof limit === 'string' ? limit : '',
        };
      } finally {
        connection.closeSync();
      }
    } catch {
      // closed meanwhile: it holds nothing any more
    }
  }
  return report;
}
