#!/usr/bin/env node
// The pg-cdc command: the TypeScript sources, bundled on first use and rebuilt when they change (bin/launch.mjs).
//
// CommonJS (bin/package.json), so that this line runs before Node's thread pool starts: an ES module entry is read
// through the pool, which then has its default 4 threads. Every DuckDB statement holds one pool thread while it runs,
// so 4 would let at most 4 snapshot chunks (init.parallel_workers) or API queries run at once; a larger pool costs
// only idle threads. A value in the environment wins.
process.env.UV_THREADPOOL_SIZE ??= '16';

import('./launch.mjs')
  .then(({ launch }) => launch())
  .catch((error) => {
    process.stderr.write(`pg-cdc: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
