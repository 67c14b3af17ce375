/**
 * JSON that keeps 64-bit integers exact. Iceberg snapshot ids are random 63-bit longs: `JSON.parse` would round
 * them and a rounded id points at no snapshot. Integers outside the safe range parse to `bigint`, and `bigint`
 * values serialize as bare JSON numbers (which `JSON.stringify` refuses to do).
 */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

export function stringifyJson(value: unknown, indent?: number): string {
  const marker = `\u0000bigint:${Math.random().toString(36).slice(2)}:`;
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${marker}${v}` : v), indent);
  // The marker holds a NUL, which JSON.stringify always escapes; search for the escaped form.
  const escaped = JSON.stringify(marker).slice(1, -1);
  return text.split(`"${escaped}`).reduce((out, part) => out + part.replace(/^(-?\d+)"/, '$1'));
}

const WS = /[ \t\n\r]*/y;
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
/** Finds where a string token ends; JSON.parse of the token then enforces the escape and control-character rules. */
const STRING = /"(?:[^"\\]|\\.)*"/y;

export function parseJson(text: string): JsonValue {
  let pos = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`invalid JSON at offset ${pos}: ${what}`);
  };
  const skip = (): void => {
    WS.lastIndex = pos;
    WS.exec(text);
    pos = WS.lastIndex;
  };
  const token = (re: RegExp): string | undefined => {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return undefined;
    pos = re.lastIndex;
    return m[0];
  };
  const literal = (word: string, value: JsonValue): JsonValue => {
    if (!text.startsWith(word, pos)) fail('unexpected token');
    pos += word.length;
    return value;
  };
  const value = (): JsonValue => {
    skip();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const out: Record<string, JsonValue> = {};
      skip();
      if (text[pos] === '}') return (pos++, out);
      for (;;) {
        skip();
        const key = token(STRING) ?? fail('expected a string key');
        skip();
        if (text[pos++] !== ':') fail("expected ':'");
        out[JSON.parse(key) as string] = value();
        skip();
        const next = text[pos++];
        if (next === '}') return out;
        if (next !== ',') fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      pos++;
      const out: JsonValue[] = [];
      skip();
      if (text[pos] === ']') return (pos++, out);
      for (;;) {
        out.push(value());
        skip();
        const next = text[pos++];
        if (next === ']') return out;
        if (next !== ',') fail("expected ',' or ']'");
      }
    }
    if (c === '"') return JSON.parse(token(STRING) ?? fail('bad string')) as string;
    if (c === 't') return literal('true', true);
    if (c === 'f') return literal('false', false);
    if (c === 'n') return literal('null', null);
    const num = token(NUMBER) ?? fail('unexpected token');
    const n = Number(num);
    return Number.isSafeInteger(n) || !/^-?\d+$/.test(num) ? n : BigInt(num);
  };
  const out = value();
  skip();
  if (pos !== text.length) fail('trailing characters');
  return out;
}

/** An integer field that may have parsed as number or bigint (or was written as a decimal string). */
export function toBigInt(value: unknown, what: string): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  throw new TypeError(`${what}: expected an integer, got ${JSON.stringify(String(value))}`);
}
