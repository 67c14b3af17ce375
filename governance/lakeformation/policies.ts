/**
 * Roles as Lake Formation grants. A role with `principal_arn` is granted SELECT and DESCRIBE on tables through
 * LF-tag policies made from its grant expression. Lake Formation's LF-tag expression is a conjunction of
 * `key IN (values)`; grants add up, so a disjunction becomes one grant per disjunct. What Lake Formation can
 * express: `key = v`, `key in [a, b]`, `and` of those, `or` of such conjunctions (with parentheses). What it
 * cannot: `!=`, `not in`, `not`, `has` (no negation, no "any value" without naming every value), and a
 * conjunction that names one key with no value in common. Those are refused with GRANT_NOT_EXPRESSIBLE, naming
 * the role and the expression, instead of granting something else.
 */
import {
  GrantPermissionsCommand,
  paginateListPermissions,
  RevokePermissionsCommand,
  type LFTag,
  type Permission,
} from '@aws-sdk/client-lakeformation';
import type { PgCdcConfig } from '../../core/config/index.js';
import { GovernanceError } from '../errors.js';
import { formatTagExpression, type TagExpression } from '../expression.js';
import { HIDDEN_IN_LAKE_FORMATION } from '../new-columns.js';
import { compileRoles, type CompiledRole } from '../roles.js';
import { lakeFormationFailure, type LakeFormationClients } from './client.js';
import { addToCatalog, ensureTagCatalog, type TagCatalog } from './tags.js';

/** One LF-tag policy: every key must carry one of its values. Keys sorted, values sorted. */
export type TagPolicy = readonly { readonly key: string; readonly values: readonly string[] }[];

export const LF_TABLE_PERMISSIONS: readonly Permission[] = ['SELECT', 'DESCRIBE'];

export class GrantNotExpressibleError extends GovernanceError {
  constructor(role: string, expression: string, reason: string) {
    super(
      'GRANT_NOT_EXPRESSIBLE',
      `role "${role}": Lake Formation cannot express ${JSON.stringify(expression)}: ${reason}`,
      {
        context: { role },
        hint:
          'Lake Formation grants conjunctions of key IN values: write the grant with =, in, and, or (e.g. ' +
          '"sensitivity in [public, internal]" instead of "sensitivity != pii"), or use governance.catalog: local',
      },
    );
  }
}

type Conjunction = Map<string, Set<string>>;

/** The expression as a disjunction of conjunctions of `key IN values`; a string says why it cannot be. */
function disjuncts(expression: TagExpression): Conjunction[] | string {
  switch (expression.op) {
    case 'eq':
      return [new Map([[expression.key, new Set([expression.value])]])];
    case 'in':
      return [new Map([[expression.key, new Set(expression.values)]])];
    case 'or': {
      const out: Conjunction[] = [];
      for (const term of expression.terms) {
        const inner = disjuncts(term);
        if (typeof inner === 'string') return inner;
        out.push(...inner);
      }
      return out;
    }
    case 'and': {
      let product: Conjunction[] = [new Map<string, Set<string>>()];
      for (const term of expression.terms) {
        const inner = disjuncts(term);
        if (typeof inner === 'string') return inner;
        product = product.flatMap((left) => inner.map((right) => intersect(left, right)));
      }
      const satisfiable = product.filter((conjunction) => [...conjunction.values()].every((set) => set.size > 0));
      return satisfiable.length > 0 ? satisfiable : 'it names one key with no value in common, so it admits nothing';
    }
    case 'ne':
    case 'not-in':
      return `"${expression.op === 'ne' ? '!=' : 'not in'}" on ${expression.key} is a negation`;
    case 'not':
      return '"not" is a negation';
    case 'has':
      return `"has ${expression.key}" admits any value, and an LF-tag policy must name the values`;
  }
}

function intersect(left: Conjunction, right: Conjunction): Conjunction {
  const out: Conjunction = new Map([...left].map(([key, values]) => [key, new Set(values)]));
  for (const [key, values] of right) {
    const current = out.get(key);
    out.set(key, current ? new Set([...current].filter((value) => values.has(value))) : new Set(values));
  }
  return out;
}

const toPolicy = (conjunction: Conjunction): TagPolicy =>
  [...conjunction].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, values]) => ({ key, values: [...values].sort() }));

export const policyKey = (policy: TagPolicy): string =>
  policy.map(({ key, values }) => `${key} in [${values.join(', ')}]`).join(' and ');

/** The LF-tag policies of a role's grant; throws GRANT_NOT_EXPRESSIBLE for what Lake Formation cannot express. */
export function tagPolicies(role: Pick<CompiledRole, 'name' | 'grant'>): TagPolicy[] {
  const result = disjuncts(role.grant);
  if (typeof result === 'string')
    throw new GrantNotExpressibleError(role.name, formatTagExpression(role.grant), result);
  const unique = new Map(result.map((conjunction) => [policyKey(toPolicy(conjunction)), toPolicy(conjunction)]));
  const policies = [...unique.values()];
  if (policies.some((policy) => policy.some(({ values }) => values.includes(HIDDEN_IN_LAKE_FORMATION)))) {
    throw new GrantNotExpressibleError(
      role.name,
      formatTagExpression(role.grant),
      `it names ${HIDDEN_IN_LAKE_FORMATION}, the value that keeps unclassified new columns hidden`,
    );
  }
  return policies;
}

export interface RoleGrantPlan {
  readonly role: string;
  readonly principal: string;
  readonly policies: readonly TagPolicy[];
}

/**
 * The grants of every role with `principal_arn`, checked all at once: every role whose expression Lake Formation
 * cannot express is named in one error.
 */
export function planRoleGrants(config: Pick<PgCdcConfig, 'governance'>): RoleGrantPlan[] {
  const roles = compileRoles(config.governance);
  const plans: RoleGrantPlan[] = [];
  const refused: GrantNotExpressibleError[] = [];
  for (const role of roles.values()) {
    const principal = config.governance.roles[role.name]?.principal_arn;
    if (principal === undefined) continue;
    try {
      plans.push({ role: role.name, principal, policies: tagPolicies(role) });
    } catch (error) {
      if (!(error instanceof GrantNotExpressibleError)) throw error;
      refused.push(error);
    }
  }
  if (refused.length === 1) throw refused[0]!;
  if (refused.length > 1) {
    throw new GovernanceError('GRANT_NOT_EXPRESSIBLE', refused.map((error) => error.message).join('; '), {
      context: { roles: refused.length },
      hint: refused[0]!.hint,
    });
  }
  return plans;
}

/** The LF-tag keys and values the grants name: they must exist before a grant can use them. */
export function grantTagCatalog(plans: readonly RoleGrantPlan[]): TagCatalog {
  const catalog: TagCatalog = new Map();
  for (const plan of plans) {
    for (const policy of plan.policies) for (const { key, values } of policy) addToCatalog(catalog, key, values);
  }
  return catalog;
}

export interface GrantDrift {
  readonly role: string;
  readonly principal: string;
  readonly missing: readonly TagPolicy[];
  /** LF-tag policy grants on tables this principal holds that its role does not say. */
  readonly extra: readonly TagPolicy[];
}

const fromLf = (expression: readonly LFTag[] | undefined): TagPolicy =>
  toPolicy(new Map((expression ?? []).map((tag) => [tag.TagKey ?? '', new Set(tag.TagValues ?? [])])));

/** The TABLE LF-tag policy grants each principal holds now (ListPermissions). */
export async function readPolicyGrants(clients: LakeFormationClients): Promise<Map<string, Map<string, TagPolicy>>> {
  const held = new Map<string, Map<string, TagPolicy>>();
  try {
    for await (const page of paginateListPermissions({ client: clients.lakeFormation }, {})) {
      for (const entry of page.PrincipalResourcePermissions ?? []) {
        const principal = entry.Principal?.DataLakePrincipalIdentifier;
        const policy = entry.Resource?.LFTagPolicy;
        if (principal === undefined || policy?.ResourceType !== 'TABLE') continue;
        if (!(entry.Permissions ?? []).includes('SELECT')) continue;
        const parsed = fromLf(policy.Expression);
        const mine = held.get(principal) ?? new Map<string, TagPolicy>();
        mine.set(policyKey(parsed), parsed);
        held.set(principal, mine);
      }
    }
  } catch (error) {
    throw lakeFormationFailure('ListPermissions', error);
  }
  return held;
}

export async function diffRoleGrants(
  clients: LakeFormationClients,
  plans: readonly RoleGrantPlan[],
): Promise<GrantDrift[]> {
  const held = await readPolicyGrants(clients);
  const drift: GrantDrift[] = [];
  for (const plan of plans) {
    const current = held.get(plan.principal) ?? new Map<string, TagPolicy>();
    const wanted = new Map(plan.policies.map((policy) => [policyKey(policy), policy]));
    const missing = [...wanted].filter(([key]) => !current.has(key)).map(([, policy]) => policy);
    const extra = [...current].filter(([key]) => !wanted.has(key)).map(([, policy]) => policy);
    if (missing.length > 0 || extra.length > 0)
      drift.push({ role: plan.role, principal: plan.principal, missing, extra });
  }
  return drift;
}

const lfResource = (policy: TagPolicy) => ({
  LFTagPolicy: {
    ResourceType: 'TABLE' as const,
    Expression: policy.map(({ key, values }) => ({ TagKey: key, TagValues: [...values] })),
  },
});

/** Grant what is missing and revoke what no role says; returns the drift it healed. */
export async function syncRoleGrants(
  clients: LakeFormationClients,
  plans: readonly RoleGrantPlan[],
): Promise<GrantDrift[]> {
  await ensureTagCatalog(clients, grantTagCatalog(plans));
  const drift = await diffRoleGrants(clients, plans);
  for (const item of drift) {
    const Principal = { DataLakePrincipalIdentifier: item.principal };
    for (const policy of item.extra) {
      try {
        await clients.lakeFormation.send(
          new RevokePermissionsCommand({
            Principal,
            Resource: lfResource(policy),
            Permissions: [...LF_TABLE_PERMISSIONS],
          }),
        );
      } catch (error) {
        throw lakeFormationFailure('RevokePermissions', error, { role: item.role, policy: policyKey(policy) });
      }
    }
    for (const policy of item.missing) {
      try {
        await clients.lakeFormation.send(
          new GrantPermissionsCommand({
            Principal,
            Resource: lfResource(policy),
            Permissions: [...LF_TABLE_PERMISSIONS],
          }),
        );
      } catch (error) {
        throw lakeFormationFailure('GrantPermissions', error, { role: item.role, policy: policyKey(policy) });
      }
    }
  }
  return drift;
}
