/**
 * Reading the changelog (`schema.table__changes`) since an epoch or a commit LSN. Every snapshot of the state and
 * changelog tables records its epoch and committed LSN (lake/contract's summary keys), and every
 * changelog row its `_commit_lsn` as a 64-bit number; "since epoch E" is "after the LSN epoch E ended at".
 */
import { BIGINT } from '@duckdb/node-api';
import { parseLsn, tryParseLsn, type Lsn } from '../core/lsn/index.js';
import {
  changelogIdentifier,
  isChangelogIdentifier,
  stateIdentifierOf,
  summaryEpoch,
  summaryLsn,
} from '../lake/contract/index.js';
import type { VisibleTable } from './access.js';
import { EngineError, invalid, notAvailable, tableNotFound } from './errors.js';
import type { StructuredPlan } from './structured.js';
import type { ChangesRequest } from './types.js';

const AFTER_EVERYTHING = 0x7fff_ffff_ffff_ffffn;

/** Epoch → the LSN it ended at (undefined when unreadable), from the summaries of both tables' snapshots. */
function epochLsns(tables: readonly VisibleTable[]): Map<number, Lsn | undefined> {
  const lsns = new Map<number, Lsn | undefined>();
  for (const { table } of tables) {
    for (const snapshot of table.metadata.snapshots) {
      const epoch = summaryEpoch(snapshot.summary);
      const lsn = summaryLsn(snapshot.summary);
      if (epoch !== undefined) lsns.set(epoch, lsn === undefined ? undefined : parseLsn(lsn));
    }
  }
  return lsns;
}

function since(request: ChangesRequest, tables: readonly VisibleTable[], changelog: string): bigint {
  const { sinceEpoch, sinceLsn } = request;
  if ((sinceEpoch === undefined) === (sinceLsn === undefined)) {
    throw invalid(
      'give exactly one of sinceEpoch and sinceLsn',
      'e.g. sinceEpoch 0 for every change since the snapshot',
    );
  }
  if (sinceLsn !== undefined) {
    const lsn = typeof sinceLsn === 'string' ? tryParseLsn(sinceLsn) : undefined;
    if (lsn === undefined) {
      throw invalid(`${JSON.stringify(sinceLsn)} is not an LSN`, 'an LSN is two hexadecimal numbers, e.g. 0/16B3748');
    }
    return lsn;
  }
  if (typeof sinceEpoch !== 'number' || !Number.isSafeInteger(sinceEpoch) || sinceEpoch < 0) {
    throw invalid(`epoch ${JSON.stringify(sinceEpoch)} is not a non-negative integer`, 'epochs count flushes from 0');
  }
  const lsns = epochLsns(tables);
  if (lsns.has(sinceEpoch)) {
    const lsn = lsns.get(sinceEpoch);
    if (lsn === undefined)
      throw notAvailable(`epoch ${sinceEpoch} of ${changelog} has no readable LSN`, 'see pg-cdc status');
    return lsn;
  }
  const known = [...lsns.keys()].sort((a, b) => a - b);
  if (known.length > 0 && sinceEpoch > known[known.length - 1]!) return AFTER_EVERYTHING;
  throw new EngineError('EPOCH_NOT_FOUND', `${changelog} has no epoch ${sinceEpoch}`, {
    context: { table: changelog, epoch: sinceEpoch },
    hint: known.length
      ? `its epochs run from ${known[0]} to ${known[known.length - 1]} (older ones may have been expired)`
      : 'the table records no epoch yet',
  });
}

/** The changelog to read and how: the rows after the boundary, in commit order. */
export function changesPlan(
  visible: ReadonlyMap<string, VisibleTable>,
  request: ChangesRequest,
  limit: number,
): { target: VisibleTable; plan: StructuredPlan } {
  const asked = typeof request?.table === 'string' ? request.table : String(request?.table);
  const name = isChangelogIdentifier(asked) ? asked : changelogIdentifier(asked);
  const target = visible.get(name);
  const state = visible.get(stateIdentifierOf(name));
  if (!target || target.table.kind !== 'changes') {
    if (state && state.table.kind === 'state') {
      throw notAvailable(
        `${state.table.identifier} has no changelog yet`,
        'the changelog fills once `pg-cdc start` streams changes; until then every row is in the snapshot',
      );
    }
    throw tableNotFound(asked, [...visible.keys()].sort());
  }
  const names = target.fields.map((f) => f.name);
  if (!names.includes('_commit_lsn')) {
    throw notAvailable(`${name} has no _commit_lsn column`, 'the changelog was written by another tool');
  }
  const boundary = since(request, state ? [target, state] : [target], name);
  return {
    target,
    plan: {
      schema: target.table.schema,
      name: target.table.name,
      table: name,
      visible: names,
      ...(request.columns ? { columns: request.columns } : {}),
      filters: [],
      conditions: [{ sql: '"_commit_lsn" > ?', value: boundary, type: BIGINT }],
      orderBy: ['_commit_lsn', '_seq'],
      limit,
    },
  };
}
