// Every workflow the pg-cdc worker registers. Workflow code is bundled for Temporal's deterministic sandbox:
// it may import only @temporalio/workflow, pure core/ modules and types.
export { preflightWorkflow } from './preflight.js';
export { snapshotWorkflow } from './snapshot.js';
export { tableActorWorkflow } from './table-actor.js';
export { breakGlassWorkflow } from './breakglass.js';
export { compactionWorkflow } from './compaction.js';
export { snapshotTableWorkflow } from './snapshot-table.js';
export { aclSyncWorkflow } from './acl-sync.js';
export { promotionWorkflow } from './promotion.js';
