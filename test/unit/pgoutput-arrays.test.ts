/**
 * pgArrayToJson over array_out text. The proof against PostgreSQL's own output is the integration test
 * pg-arrays.test.ts; these cases pin the parser's edges without a server.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pgArrayToJson } from '../../source/replication/index.js';

const parsed = (text: string, arrayTypeOid?: number): unknown => JSON.parse(pgArrayToJson(text, arrayTypeOid));

describe('pgArrayToJson', () => {
  it('one dimension, unquoted and quoted elements, NULL', () => {
    assert.deepEqual(parsed('{1,2,3}'), ['1', '2', '3']);
    assert.deepEqual(parsed('{"a b",NULL,"x\\"y","back\\\\slash","NULL",""}'), [
      'a b',
      null,
      'x"y',
      'back\\slash',
      'NULL',
      '',
    ]);
    assert.deepEqual(parsed('{null,Null}'), [null, null]);
    assert.deepEqual(parsed('{a=b,é🐘}'), ['a=b', 'é🐘']);
  });

  it('empty and all-NULL', () => {
    assert.equal(pgArrayToJson('{}'), '[]');
    assert.deepEqual(parsed('{NULL,NULL}'), [null, null]);
  });

  it('flattens more dimensions row-major and drops bounds', () => {
    assert.deepEqual(parsed('{{1,2},{3,4}}'), ['1', '2', '3', '4']);
    assert.deepEqual(parsed('[0:1]={1,2}'), ['1', '2']);
    assert.deepEqual(parsed('[0:1][-1:0]={{"{",NULL},{"}",","}}'), ['{', null, '}', ',']);
    assert.deepEqual(parsed('{{{1}},{{2}}}'), ['1', '2']);
  });

  it('uses the element type delimiter (box[] uses ;)', () => {
    assert.deepEqual(parsed('{(1,1),(0,0);(3,3),(2,2)}', 1020), ['(1,1),(0,0)', '(3,3),(2,2)']);
  });

  it('gives elements the text their cast to text gives: bool[], char(n)[] and inet[]', () => {
    assert.deepEqual(parsed('{t,f,NULL}', 1000), ['true', 'false', null]);
    assert.deepEqual(parsed('{t,f}'), ['t', 'f']);
    assert.deepEqual(parsed('{"ab ",abc,"   "}', 1014), ['ab', 'abc', '']);
    assert.deepEqual(parsed('{10.0.0.1,::1,192.168.0.1/24,::ffff:1.2.3.4}', 1041), [
      '10.0.0.1/32',
      '::1/128',
      '192.168.0.1/24',
      '::ffff:1.2.3.4/128',
    ]);
  });

  it('rejects text that array_out does not print', () => {
    for (const bad of ['', '1,2', '{1,2', '{"a}', '{1}x', '[0:1]{1}', '{a"b}']) {
      assert.throws(() => pgArrayToJson(bad), { code: 'ARRAY_LITERAL_INVALID' }, bad);
    }
  });
});
