/**
 * Lake Formation enforcement (`governance.catalog: glue`): the registry is the intent, Lake Formation the place
 * where Athena, Spark and every other Glue reader is held to it.
 */
export { reconcileLakeFormation, driftCount, healedCount, type LakeFormationReconciliation } from './reconcile.js';
export { formatLakeFormation } from './format.js';
export type { LakeFormationDrift, LakeFormationReport } from './drift.js';
export { tagPolicies, planRoleGrants, policyKey, type GrantDrift, type TagPolicy } from './policies.js';
export { openLakeFormation, type LakeFormationClients } from './client.js';
export { lakeFormationAccess } from './access.js';
export { grantBreakGlassInLakeFormation, revokeBreakGlassInLakeFormation } from './break-glass.js';
