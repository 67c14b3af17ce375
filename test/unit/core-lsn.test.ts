/** The one LSN codec: PostgreSQL's `X/Y` text to a 64-bit number and back, and text from outside checked. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PgCdcError } from '../../core/errors/index.js';
import { asLsn, formatLsn, maxLsn, parseLsn, parseLsnText, tryParseLsn, ZERO_LSN } from '../../core/lsn/index.js';

describe('LSN', () => {
  it('parses and prints PostgreSQL text form', () => {
    assert.equal(parseLsn('16/B374D848'), 0x16_b374d848n);
    assert.equal(parseLsn('0/0'), 0n);
    assert.equal(parseLsn('ffffffff/ffffffff'), (1n << 64n) - 1n);
    assert.equal(formatLsn(parseLsn('16/b374d848')), '16/B374D848');
    assert.equal(formatLsn(asLsn(0x1_0000_0000n)), '1/0');
    assert.equal(formatLsn(ZERO_LSN), '0/0');
    assert.equal(maxLsn(parseLsn('0/20'), parseLsn('0/10')), 0x20n);
  });

  it('puts text from outside in the form pg_lsn prints, the form every stored LSN is compared in', () => {
    assert.equal(parseLsnText(' 0016/b374d848'), '16/B374D848');
    assert.equal(parseLsnText('0/0'), '0/0');
  });

  it('rejects what is not an LSN with LSN_INVALID and a hint, or undefined where the caller answers', () => {
    for (const text of ['', '16', '16/', 'x/1', '1/2/3', '123456789/0', '-1/0']) {
      assert.throws(
        () => parseLsn(text),
        (error: unknown) =>
          error instanceof PgCdcError && error.code === 'LSN_INVALID' && /two hex numbers/.test(error.hint ?? ''),
        text,
      );
      assert.throws(() => parseLsnText(text), { code: 'LSN_INVALID' });
      assert.equal(tryParseLsn(text), undefined, text);
    }
    assert.throws(() => asLsn(-1n), { code: 'LSN_INVALID' });
    assert.throws(() => asLsn(1n << 64n), { code: 'LSN_INVALID' });
  });
});
