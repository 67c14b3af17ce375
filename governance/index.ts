/**
 * Governance: resources `db.schema.table[.column]` classified by inherited `key=value` tags in a versioned, audited
 * registry; roles granted tag expressions; break-glass grants with a TTL; and the AccessPolicy the query engine
 * enforces. Default deny: what a decision does not list does not exist for the principal.
 */
export type { AccessDecision, AccessPolicy, LakeTableShape, TableGrant } from './types.js';
export { openAccessPolicy, LocalAccessPolicy, type AccessPolicyOptions, type GovernedAccessPolicy } from './policy.js';
export { decideAccess } from './decide.js';
export { Registry, registryPath, type ResourceRecord, type EffectiveTags } from './registry.js';
export { SYSTEM_ACTOR, LAPSED_REASON, type BreakGlassGrant } from './grants.js';
export type { AuditEntry, AuditAction, Change } from './audit.js';
export { compileRoles, requireRole, roleIssues, type CompiledRole, type RoleSet } from './roles.js';
export {
  parseTagExpression,
  evaluateTagExpression,
  formatTagExpression,
  expressionKeys,
  TagExpressionError,
  EXPRESSION_SYNTAX,
  type TagExpression,
} from './expression.js';
export { parseResource, formatResource, type Resource } from './resource.js';
export { parseTagAssignment, formatTags, type Tags } from './tags.js';
export {
  checkPublishable,
  assertPublishable,
  type PublishCheck,
  type PublishOptions,
  type PublishableTable,
  type UntaggedTable,
} from './publishable.js';
export {
  readLakeInventory,
  requireLakeInventory,
  diffIntent,
  syncIntent,
  registerLake,
  type LakeInventory,
  type Drift,
  type DriftReport,
} from './intent.js';
export { buildAccessMap, formatAccessMap, type AccessMap } from './access-map.js';
