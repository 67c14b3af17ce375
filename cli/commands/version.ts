import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { projectRoot } from '../../stack/paths.js';

const readPackage = (path: string): { version: string } =>
  JSON.parse(readFileSync(join(projectRoot(), path), 'utf8')) as { version: string };

/** The package's version: what every command's `--version` and the servers report, without asking git. */
export const packageVersion = (): string => readPackage('package.json').version;

export function versionInfo(): Record<string, string> {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: projectRoot(),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    // not a git checkout (an installed package): the version alone identifies the build
  }
  return {
    version: packageVersion(),
    commit,
    node: process.versions.node,
    platform: `${process.platform}-${process.arch}`,
    temporalSdk: readPackage('node_modules/@temporalio/client/package.json').version,
  };
}

export function registerVersion(program: Command): void {
  program
    .command('version')
    .description('print version and build information')
    .option('--json', 'machine-readable output')
    .action((options: { json?: boolean }) => {
      const info = versionInfo();
      if (options.json) process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
      else
        process.stdout.write(
          `pg-cdc ${info.version} (commit ${info.commit}, node ${info.node}, ${info.platform}, temporal sdk ${info.temporalSdk})\n`,
        );
    });
}
