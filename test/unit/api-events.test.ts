/**
 * The change feed behind /v1/stream/events, driven version by version: only tables whose epoch moved are read,
 * only tables the principal may see, rows committed after a version's LSN wait for their own version, and a feed
 * started from an old version replays what came after it, or everything when that version was pruned.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../core/log/index.js';
import { ChangeFeed, type ChangeEvent, type CommitEvent } from '../../api/events.js';
import { createServeRuntime, type ServeRuntime } from '../../api/serve.js';
import type { ManifestTable } from '../../lake/manifest.js';
import { buildFixture, buildHistory, configFor, FixtureEngine, FixturePolicy, type Fixture } from './api-fixture.js';

describe('change feed', () => {
  let fixture: Fixture;
  let runtime: ServeRuntime;

  before(async () => {
    fixture = await buildFixture();
    await buildHistory(fixture);
    const policy = new FixturePolicy();
    runtime = createServeRuntime({
      config: configFor(fixture.root),
      log: silentLogger,
      version: '1',
      engine: new FixtureEngine(policy),
      policy,
    });
  });
  after(() => {
    runtime.watcher.close();
    fixture.cleanup();
  });

  function feed(principal: string) {
    const changes: ChangeEvent[] = [];
    const commits: { event: CommitEvent; id: string }[] = [];
    const sink = {
      change: (event: ChangeEvent) => changes.push(event),
      commit: (event: CommitEvent, id: string) => commits.push({ event, id }),
      gap: () => assert.fail('no gap expected'),
    };
    return { feed: new ChangeFeed(runtime.service, runtime.watcher, principal, sink, silentLogger), changes, commits };
  }

  /** Waits until the watcher has delivered `version` and the feed has handled it. */
  async function settle(commits: { id: string }[], version: number): Promise<void> {
    for (let i = 0; i < 100 && !commits.some((c) => c.id === String(version)); i++) {
      await runtime.watcher.check();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(
      commits.some((c) => c.id === String(version)),
      `version ${version} was handled`,
    );
  }

  it('holds back rows committed after the version, and sends them with the version that holds them', async () => {
    const analyst = feed('analyst');
    const restricted = feed('restricted');
    assert.equal(await analyst.feed.start(), 5);
    assert.equal(await restricted.feed.start(), 5);
    const tables: Record<string, ManifestTable> = structuredClone(
      (await runtime.service.lake.latest())!.manifest.tables,
    );
    // Epochs moved, but the committed LSN (0/1FFF) is below the rows' 0/2000: nothing to send yet.
    tables['public.people'] = { ...tables['public.people']!, epoch: 4, committed_lsn: '0/1FFF' };
    tables['public.orders'] = { ...tables['public.orders']!, epoch: 1, committed_lsn: '0/1FFF' };
    const six = await fixture.commit(tables);
    await settle(analyst.commits, six);
    await settle(restricted.commits, six);
    assert.equal(analyst.changes.length, 0);
    assert.deepEqual(analyst.commits.at(-1)!.event.tables, [
      { table: 'public.orders', epoch: 1, changes: 0 },
      { table: 'public.people', epoch: 4, changes: 0 },
    ]);

    tables['public.people'] = { ...tables['public.people'], epoch: 5, committed_lsn: '0/3000' };
    const seven = await fixture.commit(tables);
    await settle(analyst.commits, seven);
    await settle(restricted.commits, seven);
    assert.deepEqual(
      analyst.changes.map((c) => [c.table, c.manifest_version, c.row._op]),
      [
        ['public.people', 7, 'insert'],
        ['public.people', 7, 'delete'],
      ],
    );
    assert.deepEqual(
      restricted.commits.map((c) => [c.id, c.event.tables.map((t) => t.table)]),
      [
        ['6', ['public.people']],
        ['7', ['public.people']],
      ],
      'orders is invisible to restricted',
    );
    analyst.feed.stop();
    restricted.feed.stop();
  });

  it('replays every version after the one a client last saw', async () => {
    const resumed = feed('analyst');
    assert.equal(await resumed.feed.start(5), 5);
    await settle(resumed.commits, 7);
    assert.deepEqual(
      resumed.commits.map((c) => c.id),
      ['7'],
      'the versions after 5 are replayed at once, up to the newest',
    );
    assert.deepEqual(
      resumed.commits[0]!.event.tables.map((t) => [t.table, t.epoch]),
      [
        ['public.orders', 1],
        ['public.people', 5],
      ],
    );
    resumed.feed.stop();
  });

  it('starts over from each changelog when the version a client last saw was pruned', async () => {
    const pruned = await fixture.manifests.pruneVersions({ retainLast: 1, minAgeMs: 0, now: Date.now() + 60_000 });
    assert.equal(pruned.floor, 7);
    await assert.rejects(runtime.service.lake.version(5), (error: unknown) => {
      assert.equal((error as { code?: string }).code, 'VERSION_PRUNED');
      return true;
    });
    const resumed = feed('analyst');
    assert.equal(await resumed.feed.start(5), undefined, 'no version to start after');
    await settle(resumed.commits, 7);
    assert.deepEqual(
      resumed.commits.map((c) => c.id),
      ['7'],
    );
    const people = resumed.changes.filter((c) => c.table === 'public.people').map((c) => c.row._op);
    // At least once: what came after version 5 is among what is sent again.
    assert.ok(people.includes('insert') && people.includes('delete'), JSON.stringify(people));
    resumed.feed.stop();
  });
});
