/**
 * The CSV dialect rows travel in from PostgreSQL's `COPY … TO STDOUT` to DuckDB's `read_csv`. The ASCII unit and
 * record separators (0x1F, 0x1E) stand in for `,` and `"`: they hardly ever occur in data, so hardly any field is
 * quoted and no quote inside JSON or text is doubled. DuckDB reads such fields about twice as fast as quoted ones
 * with escapes, and the rows are shorter. A value that does contain either byte is quoted and escaped as CSV does,
 * so every value round-trips. No byte of a multi-byte UTF-8 character is below 0x80.
 *
 * NULL is an unquoted empty field; an empty string is a quoted one.
 */
const DELIMITER = 0x1f;
const QUOTE = 0x1e;

const hex = (byte: number): string => byte.toString(16).padStart(2, '0');
const char = (byte: number): string => String.fromCharCode(byte);

/** The options of `COPY (…) TO STDOUT WITH (…)` that write the dialect. */
export const COPY_CSV_OPTIONS = `FORMAT csv, DELIMITER E'\\x${hex(DELIMITER)}', QUOTE E'\\x${hex(QUOTE)}'`;

/**
 * The read_csv options that read the dialect: no header, nothing sniffed, and allow_quoted_nulls off so a quoted
 * empty field stays an empty string. The separators are in the SQL as raw bytes.
 */
export const READ_CSV_OPTIONS =
  `header = false, auto_detect = false, delim = '${char(DELIMITER)}', quote = '${char(QUOTE)}', ` +
  `escape = '${char(QUOTE)}', nullstr = '', allow_quoted_nulls = false`;

/** One record in the dialect: NULL an unquoted empty field, every other value quoted (fixtures, small writers). */
export function csvRecord(values: readonly (string | null | undefined)[]): string {
  const quote = char(QUOTE);
  const field = (value: string | null | undefined): string =>
    value == null ? '' : `${quote}${value.replaceAll(quote, quote + quote)}${quote}`;
  return `${values.map(field).join(char(DELIMITER))}\n`;
}
