/**
 * The failure catalog (core/errors/catalog.ts) is the one owner of every error code: each code the sources raise is
 * in it, and what is derived from it (Temporal's non-retryable types, the activities' `nonRetryable`, the API's
 * statuses, docs/errors.md and the status table of docs/api.md) agrees with it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { asActivity } from '../../activities/failures.js';
import { ApiError, statusOf } from '../../api/errors.js';
import {
  ERROR_CODES,
  FAILURES,
  NON_RETRYABLE_CODES,
  PgCdcError,
  httpStatusOf,
  isErrorCode,
  isRetryableCode,
  type ErrorCode,
} from '../../core/errors/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
// bench/ raises nothing of pg-cdc's own, and describes other libraries' column types as `type: 'INT64'`.
const SKIP = new Set(['node_modules', 'dist', 'test', 'bench', '.git']);

function sources(dir = ROOT): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (SKIP.has(entry.name)) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

const CODE = `'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)'`;
/** The places a code is raised or answered with: an error's first argument, a failure's type, a body's code. */
const RAISED = [
  new RegExp(`(?:new \\w*Error|super)\\(\\s*${CODE}`, 'g'),
  new RegExp(`\\btype: ${CODE}`, 'g'),
  new RegExp(`\\bcode: ${CODE}`, 'g'),
  new RegExp(`ApplicationFailure\\.nonRetryable\\([^;]*?,\\s*${CODE}\\s*,?\\s*\\)`, 'g'),
  new RegExp(`\\? [\\w.]+ : ${CODE}`, 'g'),
];

function raisedCodes(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of sources()) {
    const text = readFileSync(file, 'utf8');
    for (const pattern of RAISED) {
      for (const match of text.matchAll(pattern)) {
        const code = match[1]!;
        found.set(code, [...(found.get(code) ?? []), relative(ROOT, file)]);
      }
    }
  }
  return found;
}

describe('the failure catalog', () => {
  it('holds every code the sources raise', () => {
    const raised = raisedCodes();
    // The scan finds the codes of every room, so a code it misses would be a change in how codes are raised.
    for (const known of [
      'LAKE_CORRUPT',
      'EPOCH_STATE',
      'SLOT_EXISTS',
      'UNAUTHORIZED',
      'QUERY_INVALID',
      'PREFLIGHT_FAILED',
    ]) {
      assert.ok(raised.has(known), `the scan did not find ${known}`);
    }
    assert.ok(raised.size > 60, `only ${raised.size} codes found`);
    const missing = [...raised].filter(([code]) => !isErrorCode(code)).map(([code, files]) => `${code} (${files[0]})`);
    assert.deepEqual(missing, [], 'codes raised but not in core/errors/catalog.ts');
  });

  it('derives the non-retryable codes from the classes', () => {
    assert.deepEqual(
      [...NON_RETRYABLE_CODES].sort(),
      ERROR_CODES.filter((code) => FAILURES[code].class !== 'retryable').sort(),
    );
    for (const code of ['EPOCH_BATCH_INVALID', 'EPOCH_STATE', 'LAKE_CORRUPT', 'CONFIG_INVALID', 'SPOOL_MISSING']) {
      assert.ok(NON_RETRYABLE_CODES.includes(code as ErrorCode), `${code} is never retried`);
    }
    for (const code of ['SOURCE_UNREACHABLE', 'COMMIT_CONFLICT', 'TEMPORAL_UNREACHABLE', 'EPOCH_COMMIT_FAILED']) {
      assert.ok(isRetryableCode(code), `${code} is a passing fault`);
    }
    assert.equal(isRetryableCode('NOT_A_CODE'), true, 'an unknown code is treated as unexpected, not as permanent');
  });

  it('tells Temporal from the catalog whether an activity failure is retried', async () => {
    const failureOf = async (code: ErrorCode): Promise<ApplicationFailure> => {
      const error = await asActivity(() => Promise.reject(new PgCdcError(code, 'x', { hint: 'h' }))).catch(
        (e: unknown) => e,
      );
      assert.ok(error instanceof ApplicationFailure);
      return error;
    };
    for (const code of ERROR_CODES) {
      const failure = await failureOf(code);
      assert.equal(failure.type, code);
      assert.equal(failure.nonRetryable, !isRetryableCode(code), code);
    }
  });

  it('keeps every workflow retry policy on the derived list', () => {
    const dir = join(ROOT, 'workflows');
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const text = readFileSync(join(dir, name), 'utf8');
      for (const [policy] of text.matchAll(/nonRetryableErrorTypes:[^\n]*/g)) {
        assert.match(policy, /\[\.\.\.NON_RETRYABLE_CODES[\],]/, `${name}: ${policy}`);
      }
    }
  });

  it('gives the API its statuses', () => {
    for (const code of ERROR_CODES) {
      assert.equal(new ApiError(code, 'x').status, FAILURES[code].status, code);
      assert.equal(statusOf(new PgCdcError(code, 'x')), httpStatusOf(code), code);
    }
    assert.equal(statusOf(new Error('driver text')), 500);
  });

  it('is what docs/errors.md lists', () => {
    const rows = ERROR_CODES.map((code) => {
      const { class: kind, status, means } = FAILURES[code];
      return `| \`${code}\` | ${kind} | ${status} | ${means} |`;
    });
    const expected = ['| code | class | HTTP | means |', '|---|---|---|---|', ...rows].join('\n');
    const doc = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');
    const table = doc.slice(doc.indexOf('| code | class |')).split('\n\n')[0]!.trim();
    assert.equal(table, expected, `docs/errors.md is out of date; its table should read:\n${expected}`);
  });

  it('agrees with the status table of docs/api.md', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'api.md'), 'utf8');
    let checked = 0;
    for (const [, statuses, codes] of doc.matchAll(/^\| ([\d, ]+) \| (.*`[A-Z_]+`.*) \|$/gm)) {
      const allowed = statuses!.split(',').map((s) => Number(s.trim()));
      for (const [, code] of codes!.matchAll(/`([A-Z_]+)`/g)) {
        assert.ok(isErrorCode(code!), `${code} in docs/api.md is not in the catalog`);
        assert.ok(allowed.includes(httpStatusOf(code)), `${code}: docs/api.md says ${statuses}`);
        checked++;
      }
    }
    assert.ok(checked > 15, `only ${checked} codes read from docs/api.md`);
  });
});
