import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CsvBytes } from '../../stream/csv.js';

/** The format, spelled out on strings: every value quoted, quotes doubled, NULL an empty unquoted field. */
const reference = (values: readonly (string | null)[]): string =>
  `${values.map((v) => (v === null ? '' : `"${v.replace(/"/g, '""')}"`)).join(',')}\n`;

function row(values: readonly (string | null)[], viaBytes: boolean, csv = new CsvBytes(8)): CsvBytes {
  values.forEach((value, i) => {
    if (i > 0) csv.comma();
    if (value === null) return;
    if (!viaBytes) return csv.text(value);
    // As the stream does: the value sits among other bytes of a tuple, copied from its range.
    const bytes = Buffer.from(`"x${value}"y"`, 'utf8');
    csv.utf8(bytes, 2, bytes.length - 3);
  });
  csv.endRow();
  return csv;
}

describe('CsvBytes: the spool CSV written as bytes', () => {
  const long = 'ab"'.repeat(40); // past the byte-by-byte copy's length
  const awkward = [
    long,
    `${long}"`,
    '',
    '"',
    '""',
    'a"',
    '"a',
    'a"b"c',
    'x,y\nz',
    'héllo 🐘 "quoted"',
    '\\N',
    'NULL',
    ' ',
  ];

  it('writes text and byte ranges exactly as the format says', () => {
    for (const value of awkward) {
      for (const viaBytes of [false, true]) {
        const values = ['1', value, null, value];
        assert.equal(row(values, viaBytes).bytes.toString('utf8'), reference(values), JSON.stringify(value));
      }
    }
  });

  it('matches the reference on random text, growing its buffer as it goes', () => {
    const alphabet = ['a', '"', ',', '\n', 'é', '🐘', ' ', '\\'];
    let seed = 7;
    const next = (n: number): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % n;
    const csv = new CsvBytes(8);
    let expected = '';
    for (let r = 0; r < 300; r++) {
      const values = Array.from({ length: 1 + next(5) }, () =>
        next(6) === 0 ? null : Array.from({ length: next(12) }, () => alphabet[next(alphabet.length)]).join(''),
      );
      row(values, r % 2 === 0, csv);
      expected += reference(values);
    }
    assert.equal(csv.bytes.toString('utf8'), expected);
  });

  it('appends one buffer to another and starts over when cleared', () => {
    const a = row(['1', 'a'], true);
    const b = row(['2', 'b"'], false);
    a.append(b);
    assert.equal(a.bytes.toString('utf8'), reference(['1', 'a']) + reference(['2', 'b"']));
    a.clear();
    assert.equal(a.length, 0);
    for (const n of [0, 7, 10, 42, 99, 100, 4_294_967_295, Number.MAX_SAFE_INTEGER]) {
      a.clear();
      a.integer(n);
      assert.equal(a.bytes.toString('utf8'), `"${n}"`);
    }
    a.clear();
    a.asciiChar('U'.charCodeAt(0));
    assert.equal(a.bytes.toString('utf8'), '"U"');
  });
});
