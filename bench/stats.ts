/** The middle value (for an even count, the upper of the two middle ones): a value that was actually measured. */
export const median = (values: readonly number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
