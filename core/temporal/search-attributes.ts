import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';

/**
 * The search attributes pg-cdc sets on every workflow it starts, so that ops filter the Temporal UI and
 * `temporal workflow list --query` by what a workflow is about: `PgCdcKind = "table" AND PgCdcTable =
 * "public.orders"`. The embedded server registers them when it starts; on any other cluster the client registers
 * the missing ones on connect (workers/connection.ts), or says which command registers them.
 */
export const SEARCH_ATTRIBUTES = {
  /** What the workflow is: one of WORKFLOW_KINDS. */
  PgCdcKind: 'Keyword',
  /** `schema.table`, for a table's actor, its compactions and a break-glass grant on it. */
  PgCdcTable: 'Keyword',
  /** The replication slot a snapshot or a table actor belongs to. */
  PgCdcSlot: 'Keyword',
  /** The principal of a break-glass grant. */
  PgCdcPrincipal: 'Keyword',
  /** Kept registered for clusters set up by earlier versions; nothing sets it. */
  PgCdcEpoch: 'Int',
} as const;

export type SearchAttributeName = keyof typeof SEARCH_ATTRIBUTES;

export const WORKFLOW_KINDS = [
  'preflight',
  'snapshot',
  'table',
  'compaction',
  'breakglass',
  'promotion',
  'acl-sync',
] as const;
export type WorkflowKind = (typeof WORKFLOW_KINDS)[number];

const keyword = (name: SearchAttributeName) => defineSearchAttributeKey(name, SearchAttributeType.KEYWORD);

const KEYS = {
  kind: keyword('PgCdcKind'),
  table: keyword('PgCdcTable'),
  slot: keyword('PgCdcSlot'),
  principal: keyword('PgCdcPrincipal'),
} as const;

export interface WorkflowFacts {
  readonly kind: WorkflowKind;
  readonly table?: string;
  readonly slot?: string;
  readonly principal?: string;
}

/** The `typedSearchAttributes` of a workflow start (or a schedule's action) about `facts`. */
export function searchAttributesOf(facts: WorkflowFacts): SearchAttributePair[] {
  const pairs: SearchAttributePair[] = [{ key: KEYS.kind, value: facts.kind }];
  if (facts.table !== undefined) pairs.push({ key: KEYS.table, value: facts.table });
  if (facts.slot !== undefined) pairs.push({ key: KEYS.slot, value: facts.slot });
  if (facts.principal !== undefined) pairs.push({ key: KEYS.principal, value: facts.principal });
  return pairs;
}
