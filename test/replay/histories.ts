/**
 * The recorded histories under test/replay/histories, and what each one proves: the replay test replays them all
 * and checks that each holds exactly the `patched()` markers its entry names, so every branch a marker guards is
 * taken by at least one history. The release marker (`deprecatePatch` now) is in the histories of runs started
 * before its retirement; a history from before it was made (7287836) cannot replay at all, which is why it was
 * retired (workflows/snapshot.ts), and is not kept.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type RecordedWorkflow = 'snapshot' | 'table-actor' | 'compaction' | 'breakglass' | 'acl-sync' | 'promotion';

export interface RecordedHistory {
  readonly file: string;
  readonly workflowType: string;
  /** The patch ids whose markers the history holds; the others' old branches are what it exercises. */
  readonly patches: readonly string[];
  readonly why: string;
}

export const HISTORIES_DIR = join(import.meta.dirname, 'histories');

const RELEASE = 'release-export-by-activity';
const LOCAL = 'setup-by-local-activities';
const SIDE_BY_SIDE = 'setup-side-by-side';

export const RECORDED_HISTORIES: readonly RecordedHistory[] = [
  {
    file: 'snapshot-current.json',
    workflowType: 'snapshotWorkflow',
    patches: [LOCAL, SIDE_BY_SIDE, `${RELEASE} (deprecated)`],
    why: 'the snapshot as it runs now: every patched() branch takes its new side',
  },
  {
    file: 'snapshot-before-setup-side-by-side.json',
    workflowType: 'snapshotWorkflow',
    patches: [LOCAL, RELEASE],
    why: 'recorded before 3761c86: setup steps as local activities, one after another',
  },
  {
    file: 'snapshot-before-setup-by-local-activities.json',
    workflowType: 'snapshotWorkflow',
    patches: [RELEASE],
    why: 'recorded before 2b6f7de: setup steps as ordinary activities',
  },
  {
    file: 'table-actor-current.json',
    workflowType: 'tableActorWorkflow',
    patches: [],
    why: 'two streamed epochs committed through the commitEpoch Update',
  },
  {
    file: 'table-actor-compacted-current.json',
    workflowType: 'tableActorWorkflow',
    patches: [],
    why: 'epochs, a compaction committed through the maintain Update (then the locator refreshed), another epoch',
  },
  {
    file: 'compaction-current.json',
    workflowType: 'compactionWorkflow',
    patches: [],
    why: 'a forced compaction: plan, both rewrites, then the commit requested of the table actor',
  },
  {
    file: 'breakglass-current.json',
    workflowType: 'breakGlassWorkflow',
    patches: ['extensions-before-revoke'],
    why: 'a grant waited on, extended and revoked through Updates, extensions applied in the order asked',
  },
  {
    file: 'breakglass-before-extend-order.json',
    workflowType: 'breakGlassWorkflow',
    patches: [],
    why: 'recorded before an extension signalled together with the revocation was applied first',
  },
  {
    file: 'promotion-current.json',
    workflowType: 'promotionWorkflow',
    patches: [],
    why: 'promote:<db> in auto mode: its checks, then a promotion asked for through the promote Update',
  },
  {
    file: 'breakglass-signals.json',
    workflowType: 'breakGlassWorkflow',
    patches: [],
    why: 'recorded before the Updates: extended and revoked by signals, as executions started then still are',
  },
  {
    file: 'acl-sync-current.json',
    workflowType: 'aclSyncWorkflow',
    patches: [],
    why: 'an ACL sync that healed the registry (nothing registered yet): its one activity, syncAcl',
  },
];

/**
 * The ids of the patch markers in a history (the SDK records them as `core_patch` markers), those written by
 * `deprecatePatch()` marked `(deprecated)`.
 */
export function patchesIn(history: { events?: Array<Record<string, unknown>> | null }): string[] {
  const ids: string[] = [];
  for (const event of history.events ?? []) {
    const marker = event.markerRecordedEventAttributes as
      | { markerName?: string; details?: Record<string, { payloads?: Array<{ data?: string | Uint8Array }> }> }
      | undefined;
    if (marker?.markerName !== 'core_patch') continue;
    const data = marker.details?.['patch-data']?.payloads?.[0]?.data;
    if (data === undefined) continue;
    const text = typeof data === 'string' ? Buffer.from(data, 'base64').toString() : Buffer.from(data).toString();
    const patch = JSON.parse(text) as { id: string; deprecated?: boolean };
    ids.push(patch.deprecated ? `${patch.id} (deprecated)` : patch.id);
  }
  return ids;
}

export const readHistoryJson = (file: string): unknown => JSON.parse(readFileSync(join(HISTORIES_DIR, file), 'utf8'));

/**
 * A history as JSON with `root` (the recording's temporary directory) replaced by a fixed path in every JSON
 * payload and plain field: the committed files carry no trace of the machine that recorded them. Replay is
 * unaffected: the workflows pass those paths along and never compare them.
 */
export function scrubHistoryJson(json: unknown, root: string): string {
  const FIXED = '/tmp/pg-cdc-record';
  const visit = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(visit);
    if (value === null || typeof value !== 'object') {
      return typeof value === 'string' ? value.replaceAll(root, FIXED) : value;
    }
    const record = value as Record<string, unknown>;
    const encoding = (record.metadata as Record<string, string> | undefined)?.encoding;
    if (typeof record.data === 'string' && encoding && Buffer.from(encoding, 'base64').toString() === 'json/plain') {
      const text = Buffer.from(record.data, 'base64').toString().replaceAll(root, FIXED);
      return { ...record, data: Buffer.from(text).toString('base64') };
    }
    return Object.fromEntries(Object.entries(record).map(([key, inner]) => [key, visit(inner)]));
  };
  return `${JSON.stringify(visit(json), null, 1)}\n`;
}
