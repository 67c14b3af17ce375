/**
 * Durations in pg-cdc.yml are written as a number followed by a unit, optionally chained:
 * `500ms`, `30s`, `15m`, `1h`, `2d`, `1w`, `1h30m`. Fractions are allowed (`1.5h`).
 */
const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g;

/** The duration in milliseconds, or undefined when `text` is not a positive duration. */
export function tryParseDuration(text: string): number | undefined {
  const compact = text.trim();
  if (!WHOLE.test(compact)) return undefined;
  let total = 0;
  for (const match of compact.matchAll(PART)) total += Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? Number.NaN);
  return Number.isFinite(total) && total > 0 ? total : undefined;
}

/** Parse a duration such as `30m`, `1h` or `2d` into milliseconds; throws a RangeError on anything else. */
export function parseDuration(text: string): number {
  const ms = tryParseDuration(text);
  if (ms === undefined) {
    throw new RangeError(`invalid duration "${text}": write a number followed by ms, s, m, h, d or w, e.g. 30m or 1h`);
  }
  return ms;
}
