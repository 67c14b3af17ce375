/** summary.md of a run: a few lines that say what ran, how it ended, and where to look next. */
export interface SummaryInput {
  readonly id: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly status: 'succeeded' | 'failed';
  readonly exitCode: number;
  readonly startedAt: Date;
  readonly endedAt: Date;
  readonly events: ReadonlyMap<string, number>;
  readonly state: Readonly<Record<string, unknown>> | undefined;
  readonly error?: { readonly code: string; readonly message: string; readonly hint?: string };
}

export function summaryOf(input: SummaryInput): string {
  const seconds = (input.endedAt.getTime() - input.startedAt.getTime()) / 1000;
  const lines = [
    `# pg-cdc ${input.command}: ${input.status}`,
    '',
    `- run: \`${input.id}\``,
    `- command line: \`pg-cdc ${input.args.join(' ')}\``,
    `- from ${input.startedAt.toISOString()} to ${input.endedAt.toISOString()} (${seconds.toFixed(1)} s), exit code ${input.exitCode}`,
  ];
  if (input.error) {
    lines.push(`- error: \`${input.error.code}\`: ${input.error.message}`);
    if (input.error.hint) lines.push(`- hint: ${input.error.hint}`);
  }
  const counted = [...input.events].filter(([type]) => !type.startsWith('run.'));
  if (counted.length > 0) {
    lines.push('', '## Events', '', '| type | count |', '|---|---|');
    for (const [type, count] of counted.sort(([a], [b]) => a.localeCompare(b))) lines.push(`| ${type} | ${count} |`);
  }
  if (input.state) {
    lines.push('', '## Last state', '', '```json', JSON.stringify(input.state, null, 2), '```');
  }
  lines.push('', 'Details: `events.ndjson` (one event per line) and `run.json` in this directory; docs/runs.md.', '');
  return lines.join('\n');
}
