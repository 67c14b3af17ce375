/** What the `acl` commands share: who acts, why, printing, and the registry's lifetime around a command. */
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { GovernanceError } from '../../governance/errors.js';
import { Registry } from '../../governance/registry.js';
import type { Change } from '../../governance/audit.js';
import { loadContext, type CommandContext, type GlobalOptions } from '../context.js';

export interface ChangeOptions {
  readonly actor?: string;
  readonly reason?: string;
}

export const print = (text: string): void => void process.stdout.write(`${text}\n`);
export const printJson = (value: unknown): void => print(JSON.stringify(value, null, 2));

export function actorOf(options: ChangeOptions): string {
  if (options.actor?.trim()) return options.actor.trim();
  const fromEnv = process.env.USER ?? process.env.USERNAME;
  if (fromEnv) return fromEnv;
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

export const changeOf = (options: ChangeOptions, defaultReason: string): Change => ({
  actor: actorOf(options),
  reason: options.reason?.trim() || defaultReason,
});

export function requireReason(options: ChangeOptions): string {
  const reason = options.reason?.trim();
  if (!reason) {
    throw new GovernanceError('REASON_REQUIRED', '--reason is empty', {
      hint: 'say why, for the audit: --reason "INC-4711: customer asked for an export"',
    });
  }
  return reason;
}

/** Run `work` with the context and the configuration's registry, closing the registry after. */
export async function withRegistry<T>(
  program: Command,
  work: (context: CommandContext, registry: Registry) => Promise<T> | T,
): Promise<T> {
  const context = await loadContext(program.opts<GlobalOptions>());
  const registry = Registry.forConfig(context.config);
  try {
    return await work(context, registry);
  } finally {
    await registry.close();
  }
}
