import type pg from 'pg';

/**
 * A slice of one table for the snapshot: heap pages [startPage, endPage). The last slice is open-ended so rows on
 * pages the size estimate did not count are still read; partitioned tables are read whole through their parent.
 */
export interface ChunkPlan {
  readonly identifier: string;
  readonly index: number;
  readonly startPage: number;
  readonly endPage: number | null;
}

export interface ChunkSizing {
  readonly identifier: string;
  readonly schema: string;
  readonly name: string;
  readonly partitioned: boolean;
}

/**
 * Split tables into page ranges of about `targetBytes`, from each table's current size on disk. A table larger
 * than one chunk gets a multiple of `parallelism` chunks of equal size, so no last chunk runs alone at the end.
 */
export async function planChunks(
  client: pg.ClientBase,
  tables: readonly ChunkSizing[],
  targetBytes: number,
  parallelism = 1,
): Promise<ChunkPlan[]> {
  const { rows: settings } = await client.query<{ block_size: string }>(
    "SELECT current_setting('block_size') AS block_size",
  );
  const blockSize = Number(settings[0]?.block_size ?? 8192);
  const targetPages = Math.max(1, Math.floor(targetBytes / blockSize));
  const plans: ChunkPlan[] = [];
  for (const table of tables) {
    if (table.partitioned) {
      plans.push({ identifier: table.identifier, index: 0, startPage: 0, endPage: null });
      continue;
    }
    const { rows } = await client.query<{ pages: string }>(
      `SELECT pg_relation_size(format('%I.%I', $1::text, $2::text)::regclass) / $3::bigint AS pages`,
      [table.schema, table.name, blockSize],
    );
    const pages = Number(rows[0]?.pages ?? 0);
    const wanted = Math.ceil(pages / targetPages);
    const count = wanted <= 1 ? 1 : Math.ceil(wanted / parallelism) * parallelism;
    const pagesPerChunk = Math.max(1, Math.ceil(pages / count));
    for (let index = 0; index < count; index++) {
      const startPage = index * pagesPerChunk;
      plans.push({
        identifier: table.identifier,
        index,
        startPage,
        endPage: index === count - 1 ? null : startPage + pagesPerChunk,
      });
    }
  }
  return plans;
}

/** The WHERE clause selecting a chunk's rows; PostgreSQL 14+ runs it as a TID range scan. */
export function chunkPredicate(chunk: ChunkPlan): string {
  if (chunk.startPage === 0 && chunk.endPage === null) return 'true';
  const lower = `ctid >= '(${chunk.startPage},0)'::tid`;
  return chunk.endPage === null ? lower : `${lower} AND ctid < '(${chunk.endPage},0)'::tid`;
}
