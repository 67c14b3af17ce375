/**
 * Compaction prunes old versions of pg-cdc's manifest and of the local catalog: after `pg-cdc compact` the versions
 * below each floor are gone, the lake still reads and still streams, and a pruned `v<N>` ref is VERSION_PRUNED with
 * the oldest version kept in its hint, while that one still resolves.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LakeView } from '../../api/service/lake-view.js';
import { resolveRef } from '../../api/service/refs.js';
import { runCli } from '../support/cli.js';
import { freshDatabase } from '../support/stack.js';
import { eventually, lakeAt, lakeRows, startStream, streamConfig, type RunningStream } from '../support/stream.js';
import type { CompactionReport } from '../../workflows/compaction-messages.js';

type Db = Awaited<ReturnType<typeof freshDatabase>>;

async function lakeMatches(db: Db, lake: string): Promise<true | string> {
  const want = (await db.sql<{ r: string }>(`SELECT id::text || ':' || note AS r FROM vers_ledger`))
    .map((row) => row.r)
    .sort();
  const got = (await lakeRows(lake, 'public.vers_ledger', `d.id::VARCHAR || ':' || d.note AS r`))
    .map((row) => String(row.r))
    .sort();
  return JSON.stringify(want) === JSON.stringify(got) ? true : `lake has ${got.length} rows, PostgreSQL ${want.length}`;
}

/** The version numbers of a versioned document in the lake, as files. */
async function versionsIn(lake: string, prefix: string): Promise<number[]> {
  const keys = await lakeAt(lake).store.list(`${prefix}/`);
  return keys.flatMap((key) => /\/v(\d+)\.json$/.exec(key)?.[1] ?? []).map(Number);
}

describe('compaction prunes old manifest and catalog versions', () => {
  let db: Db;
  let config: ReturnType<typeof streamConfig>;
  let stream: RunningStream | undefined;
  const cli = (...args: string[]) => runCli(['--config', config.path, ...args]);

  before(async () => {
    db = await freshDatabase('compactv');
    await db.sql(`
      CREATE TABLE vers_ledger (id bigint PRIMARY KEY, note text);
      INSERT INTO vers_ledger SELECT g, 'n' || g FROM generate_series(1, 300) g;
    `);
    config = streamConfig({
      url: db.url(),
      prefix: 'compactv',
      flushIntervalSec: 0.2,
      extra: ['compaction:', '  retain_snapshots: 2', '  retain_versions: 3', '  orphan_grace: 1s', '  schedule: 1h'],
    });
    const init = await cli('init');
    assert.equal(init.code, 0, init.stdout + init.stderr);
    stream = startStream(config.path);
    await stream.waitForLog(/"msg":"streaming"/);
    // Small epochs, each its own manifest version, until there are enough to prune.
    for (let i = 0; (await versionsIn(config.lake, '_pgcdc/manifest')).length < 10; i++) {
      assert.ok(i < 40, 'the epochs made no manifest versions');
      await db.sql(`UPDATE vers_ledger SET note = 'u${i}' WHERE id % 8 = ${i % 8}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await eventually(() => lakeMatches(db, config.lake));
  });

  after(async () => {
    await stream?.stop('SIGKILL');
    await cli('teardown', '--yes');
  });

  it('deletes the versions below the floors; the lake reads, streams on, and v1 is VERSION_PRUNED', async () => {
    const manifestBefore = await versionsIn(config.lake, '_pgcdc/manifest');
    const catalogBefore = await versionsIn(config.lake, '_catalog');
    // Versions younger than orphan_grace stay: let the epochs' versions age past it.
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    const compact = await cli('compact', '--table', 'public.vers_ledger', '--force', '--json');
    assert.equal(compact.code, 0, compact.stdout + compact.stderr);
    const [report] = JSON.parse(compact.stdout) as CompactionReport[];
    const versions = report!.result!.versions;
    assert.ok(versions?.catalog, JSON.stringify(report!.result));
    const { manifest, catalog } = versions;

    // Only retained snapshots' epochs keep manifest versions: the early epochs' versions went.
    assert.ok(manifest.floor > 1 && manifest.deleted > 0, JSON.stringify(manifest));
    const manifestAfter = await versionsIn(config.lake, '_pgcdc/manifest');
    assert.deepEqual(
      manifestAfter.filter((v) => v < manifest.floor),
      [],
    );
    assert.ok(manifestAfter.length < manifestBefore.length, `${manifestAfter.length} of ${manifestBefore.length}`);
    assert.ok(catalog.floor > 1 && catalog.deleted > 0, JSON.stringify(catalog));
    const catalogAfter = await versionsIn(config.lake, '_catalog');
    assert.deepEqual(
      catalogAfter.filter((v) => v < catalog.floor),
      [],
    );
    assert.ok(catalogAfter.length < catalogBefore.length, `${catalogAfter.length} of ${catalogBefore.length}`);

    // The lake still reads, and epochs still commit on top of the pruned documents.
    await db.sql(`UPDATE vers_ledger SET note = 'after' WHERE id = 7`);
    await eventually(() => lakeMatches(db, config.lake));

    // v1 was pruned: the clear error names the oldest version kept, which still resolves.
    const view = new LakeView(lakeAt(config.lake));
    const oldest = await view.oldestVersion();
    assert.equal(oldest, manifest.floor);
    await assert.rejects(resolveRef(view, 'v1'), (error: unknown) => {
      const { code, hint } = error as { code?: string; hint?: string };
      assert.equal(code, 'VERSION_PRUNED');
      assert.match(hint ?? '', new RegExp(`read v${oldest} or a later version`));
      return true;
    });
    const kept = await resolveRef(view, `v${oldest}`);
    assert.equal(kept.version, oldest);
    assert.ok(kept.manifest.tables['public.vers_ledger'], JSON.stringify(kept.manifest));
    const latest = await resolveRef(view, 'latest');
    assert.ok(latest.version > oldest);
  });
});
