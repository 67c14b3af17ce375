/** "Did you mean" suggestions for misspelled keys and enum values. */

/** Optimal string alignment distance: Levenshtein plus adjacent transpositions (`flsuh` → `flush` is 1). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      d[i * cols + j] = best;
    }
  }
  return at(rows - 1, cols - 1);
}

/** `maxRows`, `max-rows` and `MAX_ROWS` all normalise to `max_rows`. */
function normalise(text: string): string {
  return text
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[-\s]+/g, '_')
    .toLowerCase();
}

/** The closest candidate to `input`, or undefined when nothing is close enough to be a plausible typo. */
export function suggest(input: string, candidates: readonly string[]): string | undefined {
  const wanted = normalise(input);
  const exact = candidates.find((candidate) => normalise(candidate) === wanted);
  if (exact !== undefined) return exact;
  const limit = Math.max(1, Math.floor(wanted.length / 3));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(wanted, normalise(candidate));
    if (distance <= limit && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** `did you mean "flush"?`, or undefined when there is no plausible candidate. */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  const match = suggest(input, candidates);
  return match === undefined ? undefined : `did you mean "${match}"?`;
}
