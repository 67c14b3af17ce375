/**
 * A test whose tool (moto, the Python readers, pgbench, an extension) is missing skips loudly on a workstation and
 * fails under `CI=true`, where setup must have installed it: a skip there would hide that the test never ran.
 * Returns the reason, for node:test's `skip`.
 */
export function skipLoudlyOrFail(reason: string): string {
  const text = `SKIPPED LOUDLY: ${reason}`;
  if (process.env.CI === 'true') throw new Error(`${text}; CI must have it`);
  process.stderr.write(`\n*** ${text} ***\n`);
  return text;
}
