/**
 * The change format's CSV (lake/state/types.ts), written as bytes. Every non-NULL value is quoted, so NULL (an
 * unquoted empty field) and the empty string (`""`) never meet and no value needs inspecting for separators; a
 * quote inside a value is doubled. UTF-8 text is copied byte for byte: no byte of a multi-byte character is `"`.
 */
const QUOTE = 0x22;
const COMMA = 0x2c;
const NEWLINE = 0x0a;
const ZERO = 0x30;
const MAX_SAFE_DIGITS = 16;
/** Up to this many bytes, a value is copied byte by byte. */
const SHORT_VALUE = 64;

export class CsvBytes {
  private buf: Buffer;
  private used = 0;

  constructor(initialBytes = 4096) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.used;
  }

  /** Bytes of memory it holds, used or not: what it costs the process. */
  get capacity(): number {
    return this.buf.length;
  }

  /** The bytes written so far (a view: valid until the next write or clear). */
  get bytes(): Buffer {
    return this.buf.subarray(0, this.used);
  }

  clear(): void {
    this.used = 0;
  }

  private room(bytes: number): void {
    if (this.used + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + bytes));
    this.buf.copy(grown, 0, 0, this.used);
    this.buf = grown;
  }

  /** Between two fields of a row. */
  comma(): void {
    this.room(1);
    this.buf[this.used++] = COMMA;
  }

  endRow(): void {
    this.room(1);
    this.buf[this.used++] = NEWLINE;
  }

  /** A non-negative integer, quoted like every other value. */
  integer(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) return this.text(String(value));
    this.room(MAX_SAFE_DIGITS + 2);
    const buf = this.buf;
    buf[this.used++] = QUOTE;
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    let at = this.used + digits;
    this.used = at;
    let rest = value;
    do {
      buf[--at] = ZERO + (rest % 10);
      rest = Math.floor(rest / 10);
    } while (rest > 0);
    buf[this.used++] = QUOTE;
  }

  /** One ASCII character other than `"`, quoted: the op of a change. */
  asciiChar(code: number): void {
    this.room(3);
    const buf = this.buf;
    buf[this.used++] = QUOTE;
    buf[this.used++] = code;
    buf[this.used++] = QUOTE;
  }

  text(value: string): void {
    const escaped = value.includes('"') ? value.replace(/"/g, '""') : value;
    this.room(3 * escaped.length + 2);
    this.buf[this.used++] = QUOTE;
    this.used += this.buf.write(escaped, this.used, 'utf8');
    this.buf[this.used++] = QUOTE;
  }

  /** UTF-8 text from `source[start, end)`, copied without decoding it. */
  utf8(source: Buffer, start: number, end: number): void {
    this.room(2 * (end - start) + 2);
    const buf = this.buf;
    buf[this.used++] = QUOTE;
    if (end - start <= SHORT_VALUE) {
      // Most values are short: a loop beats a native copy call per value.
      let at = this.used;
      for (let i = start; i < end; i++) {
        const byte = source[i]!;
        buf[at++] = byte;
        if (byte === QUOTE) buf[at++] = QUOTE;
      }
      this.used = at;
    } else {
      for (let from = start; from < end;) {
        const quote = source.indexOf(QUOTE, from);
        const found = quote >= 0 && quote < end;
        const stop = found ? quote + 1 : end;
        this.used += source.copy(buf, this.used, from, stop);
        if (found) buf[this.used++] = QUOTE; // the quote just copied, doubled
        from = stop;
      }
    }
    buf[this.used++] = QUOTE;
  }

  append(other: CsvBytes): void {
    this.room(other.used);
    this.used += other.buf.copy(this.buf, this.used, 0, other.used);
  }
}
