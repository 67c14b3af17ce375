import { ApiError } from '../errors.js';
import { LATEST_REFS } from '../schemas/inputs.js';
import { RAW_TAG_PREFIX, rawTagTime } from '../../lake/iceberg/raw-tags.js';
import { MAIN_BRANCH } from '../../lake/iceberg/refs.js';
import type { LakeView, ManifestAt } from './lake-view.js';
import { mainView } from './main-view.js';

/**
 * Refs name a whole-lake point in time: a version of pg-cdc's manifest, which moves with every committed epoch.
 *   latest | staging          the newest manifest (its entries are each table's newest snapshot, staging's head)
 *   main                      the newest manifest as its `main` record sees it: every table at the last promotion's
 *                             cut (main-view.ts)
 *   v<N>                      manifest version N (VERSION_PRUNED once compaction pruned it)
 *   raw@<ISO 8601 time>       the newest manifest committed at or before that time
 */
export interface ResolvedRef extends ManifestAt {
  readonly ref: string;
}

const SYNTAX = 'a ref is latest, staging, main, v<N> (a manifest version) or raw@<ISO time>';

export async function resolveRef(lake: LakeView, ref: string): Promise<ResolvedRef> {
  const latest = await lake.latestOrFail();
  if (ref === MAIN_BRANCH) return { ...(await mainView(lake, latest)), ref };
  if (LATEST_REFS.has(ref)) return { ...latest, ref };
  const version = /^v(\d{1,9})$/.exec(ref);
  if (version) return { ...(await lake.version(Number(version[1]), latest)), ref };
  if (ref.startsWith(RAW_TAG_PREFIX) && ref.length > RAW_TAG_PREFIX.length) {
    const at = rawTagTime(ref);
    if (at === undefined) {
      const text = ref.slice(RAW_TAG_PREFIX.length);
      throw new ApiError('REF_INVALID', `${JSON.stringify(text)} in ref ${JSON.stringify(ref)} is not a time`, {
        hint: 'write the time as ISO 8601, e.g. raw@2025-01-31T12:00:00Z',
      });
    }
    return { ...(await atOrBefore(lake, latest, at, ref)), ref };
  }
  throw new ApiError('REF_INVALID', `${JSON.stringify(ref)} is not a ref`, { hint: SYNTAX });
}

/** Binary search over versions: commits stamp `updated_at` as they land, so it grows with the version. */
async function atOrBefore(lake: LakeView, latest: ManifestAt, at: number, ref: string): Promise<ManifestAt> {
  const time = (m: ManifestAt): number => Date.parse(m.manifest.updated_at);
  if (time(latest) <= at) return latest;
  const oldest = await lake.oldestVersion();
  let low = oldest;
  let high = latest.version;
  let found: ManifestAt | undefined;
  while (low <= high) {
    const middle = Math.floor((low + high) / 2);
    const candidate = await lake.version(middle, latest);
    if (time(candidate) <= at) {
      found = candidate;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  if (found) return found;
  const first = await lake.version(oldest, latest);
  const pruned = oldest > 1 ? ' (older ones were pruned: compaction.retain_versions)' : '';
  throw new ApiError('REF_NOT_FOUND', `no manifest kept was committed at or before ${ref.slice(4)}`, {
    hint: `the oldest version kept (v${oldest}) is from ${first.manifest.updated_at}${pruned}`,
  });
}
