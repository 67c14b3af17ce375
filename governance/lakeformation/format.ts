/** `acl diff` and `acl sync` in plain text: what Lake Formation has that the registry does not say, and what was healed. */
import type { Tags } from '../tags.js';
import type { LakeFormationReconciliation } from './reconcile.js';
import { policyKey } from './policies.js';

const show = (tags: Tags): string =>
  Object.keys(tags).length === 0
    ? '(none)'
    : Object.entries(tags)
        .map(([key, value]) => `${key}=${value}`)
        .join(', ');

export function formatLakeFormation(result: LakeFormationReconciliation): string {
  const { tags, grants, healedTags, healedGrants } = result;
  const lines: string[] = [];
  const where = `Lake Formation (Glue database ${tags.database})`;
  for (const item of healedTags)
    lines.push(`  healed ${item.target}: was ${show(item.actual)}, now ${show(item.expected)}`);
  for (const item of healedGrants) {
    for (const policy of item.missing) lines.push(`  granted ${item.role} (${item.principal}): ${policyKey(policy)}`);
    for (const policy of item.extra) lines.push(`  revoked ${item.role} (${item.principal}): ${policyKey(policy)}`);
  }
  for (const item of tags.drift) {
    lines.push(
      `  ${item.target} (${item.resource}): has ${show(item.actual)}, the registry says ${show(item.expected)}`,
    );
  }
  for (const item of grants) {
    for (const policy of item.missing)
      lines.push(`  ${item.role} (${item.principal}) lacks the grant ${policyKey(policy)}`);
    for (const policy of item.extra)
      lines.push(`  ${item.role} (${item.principal}) holds a grant no role says: ${policyKey(policy)}`);
  }
  const healed = healedTags.length + healedGrants.length;
  const drifted = tags.drift.length + grants.length;
  const head =
    healed > 0
      ? `${where}: ${healed} drift item(s) healed${drifted > 0 ? `, ${drifted} left` : ''}`
      : drifted > 0
        ? `${where}: ${drifted} drift item(s); run \`pg-cdc acl sync\` to heal`
        : `${where}: LF-tags and grants match the registry`;
  if (tags.unmapped.length > 0) lines.push(`  not in Glue yet (nothing to tag): ${tags.unmapped.join(', ')}`);
  return [head, ...lines].join('\n');
}
