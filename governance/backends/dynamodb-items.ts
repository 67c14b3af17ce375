/** DynamoDB items of the registry table (dynamodb-table.ts) and the registry's records, both ways. */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { AuditAction, AuditEntry, AuditWrite } from '../audit.js';
import type { StoredGrant, StoredResource } from '../backend.js';
import { KEY } from './dynamodb-table.js';

export type Item = Record<string, AttributeValue>;

export const META = { [KEY.partition]: { S: 'meta' }, [KEY.sort]: { S: 'policy_version' } } satisfies Item;
export const RESOURCE_PREFIX = 'resource#';
export const AUDIT = 'audit';
export const GRANT = 'grant';

export const s = (value: string): AttributeValue => ({ S: value });
export const n = (value: number): AttributeValue => ({ N: String(value) });
const str = (item: Item, name: string): string => item[name]?.S ?? '';
const optStr = (item: Item, name: string): string | null => item[name]?.S ?? null;
export const num = (item: Item, name: string): number => Number(item[name]?.N ?? 0);
const optNum = (item: Item, name: string): number | null => (item[name]?.N === undefined ? null : Number(item[name].N));
const json = (value: unknown): AttributeValue => s(JSON.stringify(value ?? null));
const parsed = (item: Item, name: string): unknown => JSON.parse(item[name]?.S ?? 'null') as unknown;

/** Audit sort keys sort as numbers. */
const auditKey = (policyVersion: number): string => String(policyVersion).padStart(15, '0');

export const resourceItem = (resource: StoredResource): Item => ({
  [KEY.partition]: s(RESOURCE_PREFIX + resource.db),
  [KEY.sort]: s(resource.text),
  kind: s(resource.kind),
  db: s(resource.db),
  tags: json(resource.tags),
  version: n(resource.version),
  registered_at: s(resource.registeredAt),
  updated_at: s(resource.updatedAt),
});

export const toResource = (item: Item): StoredResource => ({
  text: str(item, KEY.sort),
  kind: str(item, 'kind') as StoredResource['kind'],
  db: str(item, 'db'),
  tags: parsed(item, 'tags') as Record<string, string>,
  version: num(item, 'version'),
  registeredAt: str(item, 'registered_at'),
  updatedAt: str(item, 'updated_at'),
});

export const grantItem = (grant: StoredGrant): Item => ({
  [KEY.partition]: s(GRANT),
  [KEY.sort]: s(grant.id),
  workflow_id: s(grant.workflowId),
  principal: s(grant.principal),
  resource: s(grant.resource),
  reason: s(grant.reason),
  granted_by: s(grant.grantedBy),
  granted_at: s(grant.grantedAt),
  expires_at: s(grant.expiresAt),
});

export const toGrant = (item: Item): StoredGrant => ({
  id: str(item, KEY.sort),
  workflowId: str(item, 'workflow_id'),
  principal: str(item, 'principal'),
  resource: str(item, 'resource'),
  reason: str(item, 'reason'),
  grantedBy: str(item, 'granted_by'),
  grantedAt: str(item, 'granted_at'),
  expiresAt: str(item, 'expires_at'),
  endedAt: optStr(item, 'ended_at'),
  endedBy: optStr(item, 'ended_by'),
  endReason: optStr(item, 'end_reason'),
});

export const toAuditEntry = (item: Item): AuditEntry => ({
  id: num(item, 'policy_version'),
  at: str(item, 'at'),
  actor: str(item, 'actor'),
  action: str(item, 'action') as AuditAction,
  resource: str(item, 'resource'),
  principal: optStr(item, 'principal'),
  reason: str(item, 'reason'),
  before: parsed(item, 'before'),
  after: parsed(item, 'after'),
  version: optNum(item, 'version'),
  policyVersion: num(item, 'policy_version'),
});

export const byGrantTime = (a: StoredGrant, b: StoredGrant): number =>
  a.grantedAt < b.grantedAt ? -1 : a.grantedAt > b.grantedAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

export function auditItem(audit: AuditWrite, policyVersion: number): Item {
  return {
    [KEY.partition]: s(AUDIT),
    [KEY.sort]: s(auditKey(policyVersion)),
    at: s(audit.at),
    actor: s(audit.actor),
    action: s(audit.action),
    resource: s(audit.resource),
    ...(audit.principal === undefined ? {} : { principal: s(audit.principal) }),
    reason: s(audit.reason),
    before: json(audit.before),
    after: json(audit.after),
    ...(audit.version === undefined ? {} : { version: n(audit.version) }),
    policy_version: n(policyVersion),
  };
}
