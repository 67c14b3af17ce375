/**
 * One CSV line of the change format in lake/state/types.ts. Every non-NULL value is quoted, so that NULL (an
 * unquoted empty field) and the empty string (`""`) never meet, and no value needs inspecting for separators.
 */
export function csvField(value: string | null): string {
  if (value === null) return '';
  return value.includes('"') ? `"${value.replace(/"/g, '""')}"` : `"${value}"`;
}

export function csvLine(values: readonly (string | null)[]): string {
  let line = '';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) line += ',';
    line += csvField(values[i] ?? null);
  }
  return `${line}\n`;
}
