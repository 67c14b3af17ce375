/**
 * PostgreSQL array literals, as array_out prints them, → the JSON array the snapshot writes for the same value
 * (`to_jsonb((CASE WHEN array_ndims(c) > 1 THEN ARRAY(SELECT unnest(c)) ELSE c END)::text[])::text`): elements in
 * row-major order whatever the dimensions, bounds dropped, NULL as JSON null, every other element as its text.
 *
 * "Its text" is what the cast to text gives, and for a few element types that cast is a function rather than the
 * output function: bool prints `t` but casts to `true`, char(n) casts without its padding, inet casts with the
 * netmask it omits on output. Those elements are rewritten here, chosen by the column's array type oid (for an array
 * of a domain, pass the array type of the domain's base type).
 */
import { PgCdcError } from '../../core/errors/index.js';

interface ElementFormat {
  readonly delimiter: number;
  /** The element's `::text` from its output text, where the two differ. */
  readonly castToText?: (text: string) => string;
}

const boolText = (text: string): string => (text === 't' ? 'true' : text === 'f' ? 'false' : text);
const unpadded = (text: string): string => text.replace(/ +$/, '');
const withNetmask = (text: string): string => (text.includes('/') ? text : `${text}/${text.includes(':') ? 128 : 32}`);

const COMMA = 0x2c;
const FORMATS: ReadonlyMap<number, ElementFormat> = new Map([
  [1000, { delimiter: COMMA, castToText: boolText }], // bool[]
  [1014, { delimiter: COMMA, castToText: unpadded }], // bpchar[]
  [1041, { delimiter: COMMA, castToText: withNetmask }], // inet[]
  [1020, { delimiter: 0x3b }], // box[]: the one built-in type whose typdelim is ';'
]);
const DEFAULT_FORMAT: ElementFormat = { delimiter: COMMA };

const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

const isSpace = (code: number): boolean => code === 0x20 || (code >= 0x09 && code <= 0x0d);

function malformed(text: string, at: number, why: string): PgCdcError {
  return new PgCdcError('ARRAY_LITERAL_INVALID', `malformed array literal at offset ${at}: ${why}`, {
    context: { value: text.length > 80 ? `${text.slice(0, 77)}...` : text, offset: at },
    hint: 'array values must be PostgreSQL array_out text, e.g. {1,2} or [0:1]={a,b}',
  });
}

/** `arrayTypeOid` is the column's type oid from the relation message; unknown oids take the common format. */
export function pgArrayToJson(text: string, arrayTypeOid = 0): string {
  const format = FORMATS.get(arrayTypeOid) ?? DEFAULT_FORMAT;
  const delim = format.delimiter;
  const cast = format.castToText;
  const end = text.length;
  let i = 0;
  // Dimension decoration, printed when a lower bound is not 1: `[0:1][1:2]=`.
  if (text.charCodeAt(0) === 0x5b) {
    const equals = text.indexOf('=');
    if (equals < 0) throw malformed(text, 0, 'dimensions without "="');
    i = equals + 1;
  }
  while (i < end && isSpace(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) !== OPEN) throw malformed(text, i, 'expected "{"');
  let out = '[';
  let count = 0;
  let depth = 0;
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c === OPEN) {
      depth++;
      i++;
    } else if (c === CLOSE) {
      depth--;
      i++;
      if (depth === 0) break;
    } else if (c === delim || isSpace(c)) {
      i++;
    } else if (c === QUOTE) {
      let value = '';
      let from = ++i;
      for (;;) {
        if (i >= end) throw malformed(text, i, 'unterminated quoted element');
        const q = text.charCodeAt(i);
        if (q === QUOTE) break;
        if (q === BACKSLASH) {
          value += text.slice(from, i);
          from = ++i;
        }
        i++;
      }
      value += text.slice(from, i);
      i++;
      out += (count++ === 0 ? '' : ',') + JSON.stringify(cast ? cast(value) : value);
    } else {
      const from = i;
      while (i < end) {
        const u = text.charCodeAt(i);
        if (u === delim || u === CLOSE || u === OPEN || isSpace(u)) break;
        if (u === QUOTE || u === BACKSLASH) throw malformed(text, i, 'unexpected character');
        i++;
      }
      const value = text.slice(from, i);
      const isNull = value.length === 4 && value.toUpperCase() === 'NULL';
      out += (count++ === 0 ? '' : ',') + (isNull ? 'null' : JSON.stringify(cast ? cast(value) : value));
    }
  }
  if (depth !== 0) throw malformed(text, i, 'unbalanced braces');
  while (i < end && isSpace(text.charCodeAt(i))) i++;
  if (i !== end) throw malformed(text, i, 'text after the closing "}"');
  return `${out}]`;
}
