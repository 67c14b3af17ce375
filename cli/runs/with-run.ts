import type { CommandContext } from '../context.js';
import { EXIT } from '../exit.js';
import { packageVersion } from '../commands/version.js';
import { RunRecorder } from './recorder.js';

/**
 * Runs a command's body with its run artifacts (recorder.ts): opened before, finished after with the exit code the
 * command ends with (an error thrown ends it with EXIT.error, as cli/main.ts reports it).
 */
export async function withRun(
  context: CommandContext,
  command: string,
  args: readonly string[],
  body: (run: RunRecorder) => Promise<void>,
): Promise<void> {
  const run = RunRecorder.open(
    {
      command,
      args,
      version: packageVersion(),
      slot: context.config.replication.slot,
      stateDir: context.stateDir,
      keep: context.config.runs.keep,
    },
    context.log,
  );
  try {
    await body(run);
  } catch (error) {
    run.finish({ exitCode: EXIT.error, error });
    throw error;
  }
  run.finish({ exitCode: typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok });
}
