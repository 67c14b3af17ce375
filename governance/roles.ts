/**
 * Principals are the roles of `governance.roles`, each granted a tag expression. The expressions are parsed once per
 * configuration; every invalid one is reported together, as a configuration error on its key.
 */
import type { GovernanceConfig } from '../core/config/index.js';
import { formatPath } from '../core/config/index.js';
import { ConfigError, type ConfigIssue } from '../core/errors/index.js';
import { PrincipalUnknownError } from './errors.js';
import { EXPRESSION_SYNTAX, parseTagExpression, TagExpressionError, type TagExpression } from './expression.js';

export interface CompiledRole {
  readonly name: string;
  /** The expression as written in pg-cdc.yml. */
  readonly source: string;
  readonly grant: TagExpression;
  readonly description?: string;
  /** `refs` lists `staging`: the role may read what has not been promoted to `main` yet. */
  readonly readsStaging: boolean;
}

export type RoleSet = ReadonlyMap<string, CompiledRole>;

type RolesConfig = Pick<GovernanceConfig, 'roles'>;

const compiled = new WeakMap<object, RoleSet>();

/** The problems in `governance.roles`, one per role whose grant does not parse (empty when all do). */
export function roleIssues(governance: RolesConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [name, role] of Object.entries(governance.roles)) {
    try {
      parseTagExpression(role.grant);
    } catch (error) {
      if (!(error instanceof TagExpressionError)) throw error;
      issues.push({
        path: formatPath(['governance', 'roles', name, 'grant']),
        message: `role "${name}": invalid tag expression: ${error.reason} at position ${error.position} of ${JSON.stringify(role.grant)}`,
        hint: `write ${EXPRESSION_SYNTAX}`,
      });
    }
  }
  return issues;
}

/** Parse every role's grant; throws CONFIG_INVALID naming each bad role, key path and position. */
export function compileRoles(governance: RolesConfig): RoleSet {
  const cached = compiled.get(governance);
  if (cached) return cached;
  const issues = roleIssues(governance);
  if (issues.length > 0) throw new ConfigError(issues);
  const roles = new Map<string, CompiledRole>();
  for (const name of Object.keys(governance.roles).sort()) {
    const role = governance.roles[name]!;
    roles.set(name, {
      name,
      source: role.grant,
      grant: parseTagExpression(role.grant),
      readsStaging: role.refs.includes('staging'),
      ...(role.description === undefined ? {} : { description: role.description }),
    });
  }
  compiled.set(governance, roles);
  return roles;
}

export function requireRole(roles: RoleSet, principal: string): CompiledRole {
  const role = roles.get(principal);
  if (!role) throw new PrincipalUnknownError(principal, [...roles.keys()]);
  return role;
}
