import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultPayloadConverter } from '@temporalio/client';
import { rowsInFlight, toItems } from '../../cli/snapshot-progress.js';

const pending = (name: string, details?: unknown) => ({
  activityType: { name },
  ...(details === undefined ? {} : { heartbeatDetails: { payloads: [defaultPayloadConverter.toPayload(details)] } }),
});

describe('init progress', () => {
  it('adds up the rows running chunks report in their heartbeats, by table', () => {
    const rows = rowsInFlight([
      pending('copyChunk', { table: 'public.a', chunk: 0, rowsCopied: 1200 }),
      pending('copyChunk', { table: 'public.a', chunk: 1, rowsCopied: 300 }),
      pending('copyChunk', { table: 'public.b', chunk: 0, rowsCopied: 7 }),
      pending('copyChunk'), // started, no heartbeat yet
      pending('copyChunk', { chunk: 2 }), // a worker of an earlier version
      pending('holdExportedSnapshot', { lsn: '0/16B3748' }),
    ]);
    assert.deepEqual(
      [...rows],
      [
        ['public.a', 1500],
        ['public.b', 7],
      ],
    );
  });

  it('shows finished chunks plus running ones, finished only when every chunk is', () => {
    const progress = {
      phase: 'copying' as const,
      attempt: 1,
      tables: [
        { table: 'public.a', chunksTotal: 4, chunksDone: 1, rowsDone: 1000, estimatedRows: 4000 },
        { table: 'public.b', chunksTotal: 1, chunksDone: 1, rowsDone: 10, estimatedRows: 12 },
      ],
    };
    const items = toItems(progress, new Map([['public.a', 1500]]));
    assert.deepEqual(
      items.map((item) => [item.label, item.done, item.total, item.finished, item.detail]),
      [
        ['public.a', 2500, 4000, false, 'chunks 1/4'],
        ['public.b', 10, 12, true, 'chunks 1/1'],
      ],
    );
  });
});
